"""`HandRegressor`: a backbone, a parameter head and the hand model: crop image -> `HandPrediction`.

The head regresses the hand-model parameters and a weak-perspective camera (s, tx, ty); the camera is read
as the translation (tx, ty, 2 f / (s * crop_size)) of the hand in the crop's camera (HaMeR's convention),
so vertices and joints come out in metres in the camera frame of the crop intrinsics K, and project to
the crop's pixels with K. With the MediaPipe backbone, `use_landmarks` feeds the backbone's own 2D
landmarks and presence to the head beside the features.
"""

from __future__ import annotations

import torch
from torch import nn

from handrecon.geometry.camera import project_points
from handrecon.geometry.rotations import rotation_6d_to_matrix
from handrecon.hand.model import HandModel
from handrecon.nn.backbones import build_backbone, normalize_input
from handrecon.nn.heads import HEADS
from handrecon.nn.prediction import HandPrediction


class HandRegressor(nn.Module):
    def __init__(
        self,
        backbone: str = "resnet50",
        backbone_opts: dict | None = None,
        head: str = "ief",
        head_opts: dict | None = None,
        hand_model: str = "openhand",
        mano_dir: str | None = None,
        crop_size: int = 224,
        use_landmarks: bool = False,
        freeze_backbone: bool = False,
    ) -> None:
        super().__init__()
        self.backbone = build_backbone(backbone, **(backbone_opts or {}))
        self.use_landmarks = use_landmarks and hasattr(self.backbone, "forward_all")
        if use_landmarks and not self.use_landmarks:
            raise ValueError(f"use_landmarks needs a backbone with landmark outputs, not {backbone!r}")
        if head not in HEADS:
            raise ValueError(f"unknown head {head!r}; available: {', '.join(sorted(HEADS))}")
        self.hand_model = HandModel(side="right", model=hand_model, mano_dir=mano_dir)
        extra = 21 * 2 + 1 if self.use_landmarks else 0
        self.head = HEADS[head](self.backbone.out_channels, num_betas=self.hand_model.num_betas,
                                extra_inputs=extra, **(head_opts or {}))
        self.crop_size = crop_size
        self.freeze_backbone = freeze_backbone
        if freeze_backbone:
            self.backbone.requires_grad_(False)

    def train(self, mode: bool = True) -> HandRegressor:
        super().train(mode)
        if self.freeze_backbone:
            self.backbone.eval()  # frozen statistics (BatchNorm) as well as frozen weights
        return self

    def backbone_outputs(self, images: torch.Tensor) -> torch.Tensor:
        """What the head reads from the backbone, (B, C) pooled features [+ landmarks and presence]: a
        function of the image alone, which a frozen backbone lets the trainer cache per sample."""
        if self.freeze_backbone and self.backbone.training:
            self.backbone.eval()  # a trainer may set modes module by module, past `train()` below
        x = normalize_input(self.backbone, images)
        if self.use_landmarks:
            out = self.backbone.forward_all(x)
            lm = out.landmarks[..., :2].reshape(-1, 42) / self.crop_size - 0.5
            return torch.cat([out.features.mean((2, 3)), lm, out.presence[:, None]], 1)
        return self.backbone(x).mean((2, 3))

    def forward(self, images: torch.Tensor | None, K: torch.Tensor, backbone_outputs: torch.Tensor | None = None,
                with_vertices: bool = True) -> HandPrediction:
        """images (B, 3, S, S) RGB in [0, 1] (S = crop_size); K (B, 3, 3) the crops' intrinsics.
        `backbone_outputs` (from `backbone_outputs`) replaces the images when given; `with_vertices=False`
        skips skinning the mesh (vertices None) when no loss reads it."""
        b = self.backbone_outputs(images) if backbone_outputs is None else backbone_outputs
        C = self.backbone.out_channels
        rot6d, betas, camera = self.head(b[:, :C], b[:, C:] if self.use_landmarks else None)
        R = rotation_6d_to_matrix(rot6d)
        hm = self.hand_model
        out = hm(global_orient=R[:, 0], hand_pose=R[:, 1:], betas=betas, transl=torch.zeros_like(camera),
                 skin_mesh=with_vertices)
        focal = K[:, 0, 0]
        s = camera[:, 0].clamp(min=1e-3)
        transl = torch.stack([camera[:, 1], camera[:, 2], 2 * focal / (s * self.crop_size)], -1)
        joints = out.joints + transl[:, None]
        vertices = out.vertices + transl[:, None] if with_vertices else None
        return HandPrediction(
            global_orient=R[:, 0],
            hand_pose=R[:, 1:],
            betas=betas,
            camera=camera,
            transl=transl,
            vertices=vertices,
            joints=joints,
            keypoints_2d=project_points(joints, K),
        )


MODELS = {"hand_regressor": HandRegressor}


def build_model(name: str = "hand_regressor", **opts) -> nn.Module:
    """The network `name` of the registry built from its config options."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; available: {', '.join(sorted(MODELS))}")
    return MODELS[name](**opts)
