"""Regression heads over a backbone's feature map.

`IEFRegressor`: iterative error feedback (Carreira et al. CVPR 2016), the hand-parameter regressor of
HMR-style models and of the knowledge-prior paper's network: starting from a mean estimate, an MLP over
(pooled features, current estimate) predicts a correction, `iterations` times. Rotations are regressed
as 6D vectors (Zhou et al. CVPR 2019), mapped to matrices by the model.
"""

from __future__ import annotations

import torch
from torch import nn

from handrecon.geometry.rotations import matrix_to_rotation_6d

NUM_JOINTS = 16  # wrist + 15 finger joints


def mean_estimate(num_betas: int = 10, camera_scale: float = 7.0) -> torch.Tensor:
    """The starting estimate: identity rotations, mean shape, the hand centred at a plausible size."""
    rot = matrix_to_rotation_6d(torch.eye(3).expand(NUM_JOINTS, 3, 3)).reshape(-1)
    return torch.cat([rot, torch.zeros(num_betas), torch.tensor([camera_scale, 0.0, 0.0])])


class IEFRegressor(nn.Module):
    """Pooled features -> (rot6d (B, 16, 6), betas (B, S), camera (B, 3)), with `iterations` feedback steps."""

    def __init__(
        self,
        in_channels: int,
        num_betas: int = 10,
        hidden: int = 1024,
        iterations: int = 3,
        dropout: float = 0.0,
        camera_scale: float = 7.0,
        extra_inputs: int = 0,
    ) -> None:
        super().__init__()
        self.num_betas = num_betas
        self.iterations = iterations
        self.register_buffer("init", mean_estimate(num_betas, camera_scale))
        n = self.init.numel()
        self.mlp = nn.Sequential(
            nn.Linear(in_channels + extra_inputs + n, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
        )
        self.out = nn.Linear(hidden, n)
        nn.init.xavier_uniform_(self.out.weight, gain=0.01)
        nn.init.zeros_(self.out.bias)

    def forward(self, features: torch.Tensor, extra: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
        x = features.mean((2, 3)) if features.dim() == 4 else features
        if extra is not None:
            x = torch.cat([x, extra.reshape(x.shape[0], -1)], 1)
        est = self.init.expand(x.shape[0], -1)
        for _ in range(self.iterations):
            est = est + self.out(self.mlp(torch.cat([x, est], 1)))
        rot = est[:, : NUM_JOINTS * 6].reshape(-1, NUM_JOINTS, 6)
        betas = est[:, NUM_JOINTS * 6 : NUM_JOINTS * 6 + self.num_betas]
        camera = est[:, NUM_JOINTS * 6 + self.num_betas :]
        return rot, betas, camera


HEADS = {"ief": IEFRegressor}
