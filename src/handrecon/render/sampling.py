"""Bilinear sampling of images at pixel coordinates and of texture maps at UV coordinates.

Pixel coordinates follow the rasterizer: pixel (x, y) covers [x, x + 1) x [y, y + 1), its centre is at
(x + 0.5, y + 0.5), so sampling at a pixel centre returns that pixel exactly.

UV coordinates follow OBJ files: u goes right and v goes up, (0, 0) is the bottom-left corner of the
texture image and (1, 1) its top-right corner; texel (row i, column j) of an Ht x Wt texture has its centre
at u = (j + 0.5) / Wt, v = 1 - (i + 0.5) / Ht. Outside [0, 1] the border texels are repeated.
"""

from __future__ import annotations

import torch
import torch.nn.functional as Fnn


def _grid_sample(images: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """images (B, C, H, W), grid (B, ..., 2) in [-1, 1] -> (B, ..., C), bilinear, border padding."""
    if images.dim() != 4:
        raise ValueError(f"images must be (B, C, H, W), got {tuple(images.shape)}")
    B = grid.shape[0]
    if images.shape[0] != B:
        images = images.expand(B, -1, -1, -1)
    lead = grid.shape[1:-1]
    g = grid.reshape(B, 1, -1, 2).to(images.dtype)
    out = Fnn.grid_sample(images, g, mode="bilinear", padding_mode="border", align_corners=False)
    return out[:, :, 0].transpose(1, 2).reshape(B, *lead, images.shape[1])


def sample_image(images: torch.Tensor, xy: torch.Tensor) -> torch.Tensor:
    """Bilinear samples of images (B, C, H, W) at pixel coordinates xy (B, ..., 2) -> (B, ..., C)."""
    H, W = images.shape[-2:]
    size = torch.tensor([W, H], dtype=xy.dtype, device=xy.device)
    return _grid_sample(images, 2.0 * xy / size - 1.0)


def uv_to_texel(uv: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """UV (..., 2) -> continuous texel coordinates (..., 2) (column, row) with texel centres at integer + 0.5."""
    return torch.stack([uv[..., 0] * width, (1.0 - uv[..., 1]) * height], -1)


def sample_texture(texture: torch.Tensor, uv: torch.Tensor) -> torch.Tensor:
    """Bilinear samples of texture maps (B, C, Ht, Wt) at UV coordinates (B, ..., 2) -> (B, ..., C)."""
    grid = torch.stack([2.0 * uv[..., 0] - 1.0, 1.0 - 2.0 * uv[..., 1]], -1)
    return _grid_sample(texture, grid)
