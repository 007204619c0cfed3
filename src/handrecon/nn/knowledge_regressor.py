"""`KnowledgePriorRegressor`: the network of the knowledge-prior paper (weakly supervised 3D hand
reconstruction with a knowledge prior and per-joint uncertainty, sec. 3 and 4.1).

A backbone (ResNet-50 at paper scale) gives pooled features; an iterative error feedback regressor
(Carreira et al. 2016; 3 iterations) refines, from a mean estimate, the pose *as the paper parameterises
it* — three anatomical Euler angles (bend, splay, twist) per finger joint in the frames of
`handrecon.hand.anatomy`, so the biomechanical ranges of eq. 1 apply to the regressed values directly —
plus the global orientation (6D), the shape, the weak-perspective camera and the per-joint 2D variance
sigma_i^2 of eq. 6-7 (as log-variance in crop units, i.e. pixels / crop size, squared).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from handrecon.geometry.rotations import matrix_to_rotation_6d, rotation_6d_to_matrix
from handrecon.hand.anatomy import Anatomy
from handrecon.hand.model import HandModel
from handrecon.nn.backbones import build_backbone, normalize_input
from handrecon.nn.decode import decode_hand
from handrecon.nn.prediction import HandPrediction

NUM_KEYPOINTS = 21
LOG_VAR_RANGE = (-14.0, 2.0)  # clamp of the predicted log-variance (crop units^2): sigma in ~[1e-3, 2.7]


@dataclass
class KnowledgePrediction(HandPrediction):
    euler_angles: torch.Tensor | None = None  # (B, 15, 3) anatomical (bend, splay, twist), radians
    keypoints_2d_variance: torch.Tensor | None = None  # (B, 21) sigma_i^2 in crop units^2 (pixels / crop size)
    iterations: list[torch.Tensor] | None = None  # the estimate after each feedback step (B, P)


class IterativeRegressor(nn.Module):
    """Iterative error feedback: est_{t+1} = est_t + MLP([features, est_t]), from a fixed start `init`."""

    def __init__(self, in_features: int, init: torch.Tensor, hidden: int = 1024, iterations: int = 3,
                 dropout: float = 0.0) -> None:
        super().__init__()
        self.iterations = iterations
        self.register_buffer("init", init.float().clone())
        n = init.numel()
        self.mlp = nn.Sequential(nn.Linear(in_features + n, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout),
                                 nn.Linear(hidden, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout))
        self.out = nn.Linear(hidden, n)
        nn.init.xavier_uniform_(self.out.weight, gain=0.01)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Every iteration's estimate (B, P), the last one the prediction."""
        est = self.init.expand(x.shape[0], -1)
        steps = []
        for _ in range(self.iterations):
            est = est + self.out(self.mlp(torch.cat([x, est], 1)))
            steps.append(est)
        return steps


class KnowledgePriorRegressor(nn.Module):
    """Crop image -> `KnowledgePrediction` (see the module docstring). `head_opts`: hidden, iterations,
    dropout, camera_scale, init_log_variance."""

    uses_crop_transform = False

    def __init__(self, backbone: str = "resnet50", backbone_opts: dict | None = None, head: str = "ief",
                 head_opts: dict | None = None, hand_model: str = "openhand", mano_dir: str | None = None,
                 crop_size: int = 224, use_landmarks: bool = False, freeze_backbone: bool = False) -> None:
        super().__init__()
        if head != "ief":
            raise ValueError(f"the knowledge-prior regressor has an IEF head, not {head!r}")
        opts = dict(head_opts or {})
        self.backbone = build_backbone(backbone, **(backbone_opts or {}))
        self.use_landmarks = use_landmarks and hasattr(self.backbone, "forward_all")
        if use_landmarks and not self.use_landmarks:
            raise ValueError(f"use_landmarks needs a backbone with landmark outputs, not {backbone!r}")
        self.hand_model = HandModel(side="right", model=hand_model, mano_dir=mano_dir)
        self.anatomy = Anatomy.from_hand_model(self.hand_model)
        self.num_betas = self.hand_model.num_betas
        self.crop_size = crop_size
        self.freeze_backbone = freeze_backbone
        init = torch.cat([
            matrix_to_rotation_6d(torch.eye(3)[None])[0],
            self.anatomy.rest_angles().reshape(-1).float(),  # angles of the model's rest pose
            torch.zeros(self.num_betas),
            torch.tensor([float(opts.pop("camera_scale", 7.0)), 0.0, 0.0]),
            torch.full((NUM_KEYPOINTS,), float(opts.pop("init_log_variance", -7.0))),
        ])
        extra = 21 * 2 + 1 if self.use_landmarks else 0
        self.regressor = IterativeRegressor(self.backbone.out_channels + extra, init, **opts)
        if freeze_backbone:
            self.backbone.requires_grad_(False)

    def train(self, mode: bool = True) -> KnowledgePriorRegressor:
        super().train(mode)
        if self.freeze_backbone:
            self.backbone.eval()
        return self

    def backbone_outputs(self, images: torch.Tensor) -> torch.Tensor:
        """(B, C [+ 43]) pooled features [+ the backbone's landmarks and presence]; cacheable when frozen."""
        x = normalize_input(self.backbone, images)
        if self.use_landmarks:
            out = self.backbone.forward_all(x)
            lm = out.landmarks[..., :2].reshape(-1, 42) / self.crop_size - 0.5
            return torch.cat([out.features.mean((2, 3)), lm, out.presence[:, None]], 1)
        return self.backbone(x).mean((2, 3))

    def split(self, est: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(rot6d of the wrist (B, 6), angles (B, 15, 3), betas, camera (B, 3), log-variance (B, 21))."""
        s = self.num_betas
        return (est[:, :6], est[:, 6:51].reshape(-1, 15, 3), est[:, 51:51 + s], est[:, 51 + s:54 + s],
                est[:, 54 + s:])

    def forward(self, images: torch.Tensor | None, K: torch.Tensor, backbone_outputs: torch.Tensor | None = None,
                with_vertices: bool = True, **_) -> KnowledgePrediction:
        """images (B, 3, S, S) RGB in [0, 1]; K (B, 3, 3) the crops' intrinsics."""
        feats = self.backbone_outputs(images) if backbone_outputs is None else backbone_outputs
        steps = self.regressor(feats)
        rot6d, angles, betas, camera, log_var = self.split(steps[-1])
        R = torch.cat([rotation_6d_to_matrix(rot6d)[:, None], self.anatomy.euler_to_rotations(angles)], 1)
        fields = decode_hand(self.hand_model, R, betas, camera, K, self.crop_size, with_vertices)
        var = log_var.clamp(*LOG_VAR_RANGE).exp()
        return KnowledgePrediction(**fields, euler_angles=angles, keypoints_2d_variance=var, iterations=steps)
