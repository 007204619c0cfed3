"""Shared helpers of the metric modules: unit conversion, shape checks and masked means."""

from __future__ import annotations

import torch

MM_PER_M = 1000.0


def check_same_shape(pred: torch.Tensor, gt: torch.Tensor, what: str = "points") -> None:
    """Metrics compare element by element, so a shape mismatch is always a caller error."""
    if pred.shape != gt.shape:
        raise ValueError(f"pred and gt {what} must have the same shape, got {tuple(pred.shape)} and {tuple(gt.shape)}")
    if pred.dim() < 2:
        raise ValueError(f"expected {what} of shape (B, N, D), got {tuple(pred.shape)}")


def as_mask(valid: torch.Tensor | None, shape: torch.Size, like: torch.Tensor) -> torch.Tensor | None:
    """A 0/1 (or weight) mask of `shape` in the dtype and device of `like`; None stays None."""
    if valid is None:
        return None
    if valid.shape != shape:
        raise ValueError(f"mask must have shape {tuple(shape)}, got {tuple(valid.shape)}")
    return valid.to(dtype=like.dtype, device=like.device)


def masked_mean(values: torch.Tensor, mask: torch.Tensor | None, dim: int | tuple[int, ...] = -1) -> torch.Tensor:
    """Mean of `values` over `dim` where `mask` is non-zero; NaN where nothing is valid, so that an
    empty sample is visibly missing rather than silently zero."""
    if mask is None:
        return values.mean(dim)
    total = mask.sum(dim)
    summed = torch.where(mask > 0, values, torch.zeros_like(values)).mul(mask).sum(dim)
    return torch.where(total > 0, summed / total.clamp_min(torch.finfo(values.dtype).tiny), torch.nan)


def point_distances(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """Euclidean distance of corresponding points, (..., N, D) x2 -> (..., N), in the input's unit.

    Differentiable at zero distance (subgradient 0) so that a perfect prediction does not produce NaN.
    """
    sq = (pred - gt).pow(2).sum(-1)
    safe = torch.where(sq > 0, sq, torch.ones_like(sq))
    return torch.where(sq > 0, safe.sqrt(), torch.zeros_like(sq))
