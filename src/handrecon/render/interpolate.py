"""Interpolation of per-vertex or per-face-corner attributes over rasterized pixels.

Attributes may be anything with channels: colours, normals, UVs, depth, learned features. Only covered
pixels are computed; gradients flow to the attributes and, through the barycentrics, to vertex positions.
"""

from __future__ import annotations

import torch

from handrecon.render.rasterize import Fragments


def face_corner_attributes(vertex_attrs: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """(B, V, C) or (V, C) per-vertex values -> (B, F, 3, C) or (F, 3, C) per-face-corner values."""
    return vertex_attrs[..., faces.to(device=vertex_attrs.device, dtype=torch.long), :]


def interpolate_face_attributes(
    fragments: Fragments, corner_attrs: torch.Tensor, background: float | torch.Tensor = 0.0
) -> torch.Tensor:
    """Interpolate per-face-corner attributes (B, F, 3, C) or (F, 3, C) -> (B, H, W, C).

    Background pixels get `background` (a scalar or a (C,) tensor).
    """
    B, H, W = fragments.shape
    if corner_attrs.dim() == 3:
        corner_attrs = corner_attrs.unsqueeze(0)
    if corner_attrs.dim() != 4 or corner_attrs.shape[2] != 3:
        raise ValueError(f"corner attributes must be (B, F, 3, C) or (F, 3, C), got {tuple(corner_attrs.shape)}")
    Bc, F, _, C = corner_attrs.shape
    if Bc not in (1, B):
        raise ValueError(f"attribute batch {Bc} does not match fragments batch {B}")
    flat = corner_attrs.reshape(Bc * F, 3, C)
    row = fragments.fg_face if Bc == 1 else fragments.fg_batch * F + fragments.fg_face
    bary = fragments.fg_bary.to(corner_attrs.dtype)
    values = (flat.index_select(0, row) * bary[:, :, None]).sum(1)
    bg = torch.as_tensor(background, dtype=values.dtype, device=values.device)
    out = bg.expand(B * H * W, C).clone() if bg.numel() > 1 else values.new_full((B * H * W, C), float(bg))
    return out.index_copy(0, fragments.fg_pixel, values).view(B, H, W, C)


def interpolate_vertex_attributes(
    fragments: Fragments, vertex_attrs: torch.Tensor, faces: torch.Tensor, background: float | torch.Tensor = 0.0
) -> torch.Tensor:
    """Interpolate per-vertex attributes (B, V, C) or (V, C) over the faces (F, 3) -> (B, H, W, C)."""
    return interpolate_face_attributes(fragments, face_corner_attributes(vertex_attrs, faces), background)
