"""Ambient + directional Lambertian shading with the 11-value lighting vector of S2HAND (sec. 3.2):

    L = (l^a, l^a_c, l^d, l^d_c, n^d) = (ambient intensity (1), ambient colour (3),
                                         directional intensity (1), directional colour (3), direction (3)),
    shaded = albedo * (l^a * l^a_c + l^d * l^d_c * max(0, <n, n^d / |n^d|>)).

n^d is the direction from the surface towards the light in the camera frame (OpenCV: x right, y down,
z forward), so a light at the camera shining along +z has n^d = (0, 0, -1); n is the outward unit normal.
This is the convention of the neural mesh renderer S2HAND renders with.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as Fnn

LIGHTING_SIZE = 11


def make_lighting(
    ambient: float = 0.5,
    ambient_color: Sequence[float] = (1.0, 1.0, 1.0),
    directional: float = 0.5,
    directional_color: Sequence[float] = (1.0, 1.0, 1.0),
    direction: Sequence[float] = (0.0, 0.0, -1.0),
    batch_size: int = 1,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """(B, 11) lighting vector; the default is half ambient, half a white light at the camera."""
    row = [ambient, *ambient_color, directional, *directional_color, *direction]
    if len(row) != LIGHTING_SIZE:
        raise ValueError("colours and direction must have 3 components each")
    return torch.tensor(row, dtype=dtype, device=device).expand(batch_size, LIGHTING_SIZE).clone()


def split_lighting(lighting: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(B, 11) or (11,) -> ambient rgb (B, 3), directional rgb (B, 3), unit direction towards the light (B, 3)."""
    if lighting.shape[-1] != LIGHTING_SIZE:
        raise ValueError(f"lighting must have {LIGHTING_SIZE} values in its last dim, got {tuple(lighting.shape)}")
    L = lighting.reshape(-1, LIGHTING_SIZE)
    ambient = L[:, 0:1] * L[:, 1:4]
    directional = L[:, 4:5] * L[:, 5:8]
    direction = Fnn.normalize(L[:, 8:11], dim=-1, eps=1e-12)
    return ambient, directional, direction


def lambert(normals: torch.Tensor, albedo: torch.Tensor, lighting: torch.Tensor) -> torch.Tensor:
    """Shade albedo (B, ..., 3) with unit normals (B, ..., 3) under lighting (B, 11) or (11,) -> (B, ..., 3).

    Works for per-vertex (B, V, 3) and per-pixel (B, H, W, 3) inputs alike.
    """
    ambient, directional, direction = split_lighting(lighting.to(dtype=normals.dtype, device=normals.device))
    B = normals.shape[0]
    if ambient.shape[0] not in (1, B):
        raise ValueError(f"lighting batch {ambient.shape[0]} does not match normals batch {B}")
    view = (ambient.shape[0],) + (1,) * (normals.dim() - 2) + (3,)
    cos = (normals * direction.view(view)).sum(-1, keepdim=True).clamp_min(0.0)
    return albedo * (ambient.view(view) + directional.view(view) * cos)
