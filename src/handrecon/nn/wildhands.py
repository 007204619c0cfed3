"""`WildHands`: the hand-crop network of WildHands (Prakash et al., 3D hand pose estimation in everyday
egocentric images; sec. 3.1 and the supplementary).

crop (224 x 224) -> ResNet-50 -> 7 x 7 x 2048 map; the intrinsics-aware positional encoding of the crop
(`handrecon.nn.kpe`) is concatenated to the map (sparse: 4 corners + centre, K = 4 frequencies, broadcast
over 7 x 7; dense: per pixel, resampled to 7 x 7); 3 convolutions (1024, 512, 256 channels, 3 x 3, ReLU,
no batch norm so the encoding's spatial layout survives) give 3 x 3 x 256, flattened (2304) and mapped by
a one-layer MLP to a 2048 vector. With the global image features (the 7 x 7 map average-pooled, 2048) it
feeds one decoder per quantity — shape, articulation (15 rotations), global orientation, weak-perspective
camera — each a 3-layer MLP (1024, 1024, out) whose output is added to the current estimate, 3 times.
MANO-style parameters start at zero (identity rotations), the camera from a linear map of the feature
vector. Rotations are decoded as 6D vectors mapped to matrices (the paper's "matrix form"). The camera
places the hand in the crop's camera (`handrecon.nn.decode`), so 3D is absolute with the crop's K.

`kpe` options (table 5): "sparse" (WildHands), "dense", "input" (dense KPE added to the input image through
a 1 x 1 convolution, zero at the start), "no_intrinsics" (sparse encoding of the crop's image coordinates
about the centre; needs the crop transform), "none" (HandNet, the no-KPE baseline).
A grasp head (4-layer MLP: 1024, 1024, 512, 128, ReLU; 8 classes) reads the predicted rotations and shape.
The mask of the auxiliary supervision is rendered from the predicted mesh by the loss term.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from handrecon.geometry.rotations import matrix_to_rotation_6d, rotation_6d_to_matrix
from handrecon.hand.model import HandModel
from handrecon.nn.backbones import build_backbone, normalize_input
from handrecon.nn.decode import decode_hand
from handrecon.nn.kpe import (
    NUM_FREQUENCIES,
    centred_coordinates,
    crop_points,
    dense_kpe,
    sinusoidal_encoding,
    sparse_kpe,
)
from handrecon.nn.prediction import HandPrediction
from handrecon.priors.egocentric import NUM_GRASP_CLASSES

KPE_MODES = ("sparse", "dense", "input", "no_intrinsics", "none")
MAP_SIZE = 7  # the feature map the convolution stack expects (ResNet-50 at 224 x 224)


@dataclass
class WildHandsPrediction(HandPrediction):
    grasp_logits: torch.Tensor | None = None  # (B, 8)


def _mlp(sizes: list[int], last_relu: bool = False) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2 or last_relu:
            layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def no_intrinsics_encoding(K: torch.Tensor, crop_A: torch.Tensor, crop_size: int,
                           num_frequencies: int = NUM_FREQUENCIES) -> torch.Tensor:
    """(B, 5 * 4K): the crop's corners and centre in the full image's coordinates about its centre."""
    Ainv = torch.linalg.inv(crop_A.to(K.dtype))
    K_image = Ainv @ K
    pts = crop_points(crop_size, K.dtype, K.device)
    ph = torch.cat([pts, torch.ones_like(pts[:, :1])], 1)  # (5, 3)
    img = torch.einsum("bij,nj->bni", Ainv, ph)
    img = img[..., :2] / img[..., 2:]
    return sinusoidal_encoding(centred_coordinates(img, K_image), num_frequencies).flatten(1)


class WildHands(nn.Module):
    """Crop image + the crop's K -> `WildHandsPrediction` (see the module docstring). `head_opts`: kpe,
    num_frequencies, conv_channels, feature_dim, hidden, iterations, global_features, grasp_head,
    camera_scale."""

    def __init__(self, backbone: str = "resnet50", backbone_opts: dict | None = None, head: str = "ief",
                 head_opts: dict | None = None, hand_model: str = "openhand", mano_dir: str | None = None,
                 crop_size: int = 224, use_landmarks: bool = False, freeze_backbone: bool = False) -> None:
        super().__init__()
        if head != "ief":
            raise ValueError(f"WildHands has iterative decoders (head 'ief'), not {head!r}")
        if use_landmarks:
            raise ValueError("WildHands reads the feature map only (use_landmarks must be false)")
        o = dict(head_opts or {})
        self.kpe = o.get("kpe", "sparse")
        if self.kpe not in KPE_MODES:
            raise ValueError(f"unknown kpe {self.kpe!r}; available: {', '.join(KPE_MODES)}")
        self.num_frequencies = int(o.get("num_frequencies", NUM_FREQUENCIES))
        channels = list(o.get("conv_channels", (1024, 512, 256)))
        feature_dim = int(o.get("feature_dim", 2048))
        hidden = int(o.get("hidden", 1024))
        self.iterations = int(o.get("iterations", 3))
        self.global_features = bool(o.get("global_features", True))
        self.uses_crop_transform = self.kpe == "no_intrinsics"
        self.backbone = build_backbone(backbone, **(backbone_opts or {}))
        self.hand_model = HandModel(side="right", model=hand_model, mano_dir=mano_dir)
        self.num_betas = self.hand_model.num_betas
        self.crop_size = crop_size
        self.freeze_backbone = freeze_backbone
        C = self.backbone.out_channels
        enc = 4 * self.num_frequencies
        extra = {"sparse": 5 * enc, "no_intrinsics": 5 * enc, "dense": enc}.get(self.kpe, 0)
        if self.kpe == "input":
            self.input_kpe = nn.Conv2d(enc, 3, 1)
            nn.init.zeros_(self.input_kpe.weight)
            nn.init.zeros_(self.input_kpe.bias)
        c1, c2, c3 = channels
        self.convs = nn.Sequential(  # 7 -> 7 -> 5 -> 3
            nn.Conv2d(C + extra, c1, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(c1, c2, 3), nn.ReLU(inplace=True),
            nn.Conv2d(c2, c3, 3), nn.ReLU(inplace=True),
        )
        self.fc = nn.Sequential(nn.Linear(c3 * 9, feature_dim), nn.ReLU(inplace=True))
        in_dec = feature_dim + (C if self.global_features else 0)
        self.sizes = {"betas": self.num_betas, "hand_pose": 15 * 6, "global_orient": 6, "camera": 3}
        total = sum(self.sizes.values())
        self.decoders = nn.ModuleDict({k: _mlp([in_dec + total, hidden, hidden, n]) for k, n in self.sizes.items()})
        for d in self.decoders.values():
            nn.init.xavier_uniform_(d[-1].weight, gain=0.01)
            nn.init.zeros_(d[-1].bias)
        self.camera_init = nn.Linear(feature_dim, 3)
        nn.init.zeros_(self.camera_init.weight)
        with torch.no_grad():
            self.camera_init.bias.copy_(torch.tensor([float(o.get("camera_scale", 7.0)), 0.0, 0.0]))
        eye6 = matrix_to_rotation_6d(torch.eye(3)[None])[0]
        self.register_buffer("rot_init", eye6)
        self.grasp_head = _mlp([16 * 9 + self.num_betas, 1024, 1024, 512, 128, NUM_GRASP_CLASSES]) \
            if o.get("grasp_head", True) else None
        if freeze_backbone:
            self.backbone.requires_grad_(False)

    def train(self, mode: bool = True) -> WildHands:
        super().train(mode)
        if self.freeze_backbone:
            self.backbone.eval()
        return self

    def feature_map(self, images: torch.Tensor, K: torch.Tensor | None) -> torch.Tensor:
        x = normalize_input(self.backbone, images)
        if self.kpe == "input":
            x = x + self.input_kpe(dense_kpe(K, images.shape[-1], None, self.num_frequencies))
        f = self.backbone(x)
        if f.shape[-2:] != (MAP_SIZE, MAP_SIZE):  # small crops / other backbones: the stack's 7 x 7 grid
            f = F.adaptive_avg_pool2d(f, MAP_SIZE)
        return f

    def backbone_outputs(self, images: torch.Tensor) -> torch.Tensor:
        """The 7 x 7 feature map (B, C, 7, 7): a function of the image alone (not with kpe 'input'), which a
        frozen backbone lets the trainer cache per sample."""
        if self.kpe == "input":
            raise ValueError("with kpe 'input' the feature map depends on K; it cannot be cached")
        return self.feature_map(images, None)

    def encoding(self, K: torch.Tensor, crop_A: torch.Tensor | None) -> torch.Tensor | None:
        """The KPE concatenated to the feature map (B, E, 7, 7), or None."""
        B = K.shape[0]
        if self.kpe == "sparse":
            e = sparse_kpe(K, self.crop_size, self.num_frequencies)
        elif self.kpe == "no_intrinsics":
            if crop_A is None:
                raise ValueError("kpe 'no_intrinsics' needs the crop transform crop_A (image -> crop pixels)")
            e = no_intrinsics_encoding(K, crop_A, self.crop_size, self.num_frequencies)
        elif self.kpe == "dense":
            return dense_kpe(K, self.crop_size, (MAP_SIZE, MAP_SIZE), self.num_frequencies)
        else:
            return None
        return e[:, :, None, None].expand(B, -1, MAP_SIZE, MAP_SIZE)

    def forward(self, images: torch.Tensor, K: torch.Tensor, backbone_outputs: torch.Tensor | None = None,
                with_vertices: bool = True, crop_A: torch.Tensor | None = None) -> WildHandsPrediction:
        """images (B, 3, S, S) RGB in [0, 1]; K (B, 3, 3) the crops' intrinsics; crop_A (B, 3, 3) image ->
        crop pixels (only for kpe 'no_intrinsics'); `backbone_outputs` (the cached 7 x 7 map of
        `backbone_outputs`) replaces the images when given."""
        if backbone_outputs is not None:
            if self.kpe == "input":
                raise ValueError("with kpe 'input' the feature map depends on K; it cannot be cached")
            f = backbone_outputs
        else:
            f = self.feature_map(images, K.to(images.dtype))
        K = K.to(f.dtype)
        e = self.encoding(K, crop_A)
        x = f if e is None else torch.cat([f, e.to(f.dtype)], 1)
        feat = self.fc(self.convs(x).flatten(1))
        ctx = torch.cat([feat, f.mean((2, 3))], 1) if self.global_features else feat
        B = f.shape[0]
        est = {
            "betas": feat.new_zeros(B, self.num_betas),
            "hand_pose": self.rot_init.repeat(15).expand(B, -1),
            "global_orient": self.rot_init.expand(B, -1),
            "camera": self.camera_init(feat),
        }
        for _ in range(self.iterations):
            inp = torch.cat([ctx, *est.values()], 1)
            est = {k: v + self.decoders[k](inp) for k, v in est.items()}
        rot6d = torch.cat([est["global_orient"][:, None], est["hand_pose"].reshape(B, 15, 6)], 1)
        R = rotation_6d_to_matrix(rot6d)
        fields = decode_hand(self.hand_model, R, est["betas"], est["camera"], K, self.crop_size, with_vertices)
        grasp = None
        if self.grasp_head is not None:
            grasp = self.grasp_head(torch.cat([R.flatten(1), est["betas"]], 1))
        return WildHandsPrediction(**fields, grasp_logits=grasp)
