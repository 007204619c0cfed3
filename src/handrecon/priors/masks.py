"""Image-mask handling shared by the image-space losses (silhouettes, visibility masks)."""

from __future__ import annotations

import torch


def broadcast_mask(mask: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    """A (B, H, W) or (B, 1, H, W) mask, binary or soft, as (B, 1, H, W) in the image's dtype/device, ready
    to multiply channels-first images (B, C, H, W)."""
    m = mask.to(dtype=image.dtype, device=image.device)
    if m.dim() == 3:
        m = m[:, None]
    if m.dim() != 4 or m.shape[1] != 1 or m.shape[0] != image.shape[0] or m.shape[-2:] != image.shape[-2:]:
        raise ValueError(f"mask of shape {tuple(mask.shape)} does not fit images of shape {tuple(image.shape)}")
    return m
