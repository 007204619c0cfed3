"""Percentage of correct keypoints (PCK) and the area under its curve (AUC), as FreiHAND's `EvalUtil`.

Errors and thresholds share one unit: millimetres for 3D (errors from `point_errors_mm`), pixels for
2D. A point is correct when its error is <= the threshold (inclusive, as `EvalUtil._get_pck`).

The FreiHAND/HO3D figure is `auc(pck_curve(errors), default_thresholds_mm())`: 100 thresholds evenly
spaced over [0, 50] mm, PCK per keypoint over the dataset, averaged over keypoints, integrated with
the trapezoidal rule and divided by the threshold range (50 mm), so that AUC lies in [0, 1].
"""

from __future__ import annotations

import torch

from handrecon.eval._common import as_mask, masked_mean


def default_thresholds_mm(
    max_mm: float = 50.0, steps: int = 100, dtype: torch.dtype = torch.float64, device: torch.device | str | None = None
) -> torch.Tensor:
    """`steps` thresholds evenly spaced over [0, max_mm] (FreiHAND: 0-50 mm, 100 steps, ends included)."""
    return torch.linspace(0.0, max_mm, steps, dtype=dtype, device=device)


def _as_thresholds(thresholds: torch.Tensor | float, like: torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(thresholds, dtype=like.dtype, device=like.device)


def pck(errors: torch.Tensor, thresholds: torch.Tensor | float, valid: torch.Tensor | None = None) -> torch.Tensor:
    """Per-sample PCK: share of valid points of each sample whose error is <= each threshold.

    errors (B, N) and valid (B, N) -> (B,) for a scalar threshold, (B, T) for thresholds (T,).
    NaN for a sample without valid points.
    """
    t = _as_thresholds(thresholds, errors)
    correct = (errors[..., None] <= t.reshape(-1)).to(errors.dtype)  # (B, N, T)
    mask = as_mask(valid, errors.shape, errors)
    out = masked_mean(correct, None if mask is None else mask[..., None].expand_as(correct), dim=-2)
    return out[..., 0] if t.dim() == 0 else out


def pck_curve(
    errors: torch.Tensor, thresholds: torch.Tensor | None = None, valid: torch.Tensor | None = None
) -> torch.Tensor:
    """Dataset PCK curve (T,) from errors (B, N) of a whole dataset, pooled as FreiHAND's `EvalUtil`.

    For each keypoint, the share of samples in which it is valid and correct among those in which it is
    valid; then the mean over keypoints that are valid at least once. With every point valid this equals
    the mean of the per-sample `pck` curves. `thresholds` defaults to `default_thresholds_mm()`.
    """
    t = default_thresholds_mm(dtype=errors.dtype, device=errors.device) if thresholds is None else thresholds
    t = _as_thresholds(t, errors)
    correct = (errors[..., None] <= t).to(errors.dtype)  # (B, N, T)
    mask = as_mask(valid, errors.shape, errors)
    if mask is None:
        return correct.mean((0, 1))
    per_keypoint = masked_mean(correct, mask[..., None].expand_as(correct), dim=0)  # (N, T), NaN if never valid
    seen = mask.sum(0) > 0
    if not bool(seen.any()):
        return torch.full_like(t, torch.nan)
    return per_keypoint[seen].mean(0)


def auc(curve: torch.Tensor, thresholds: torch.Tensor) -> torch.Tensor:
    """Normalised area under a PCK curve (..., T): trapezoidal integral over `thresholds` (T,) divided by
    the threshold range, in [0, 1] (FreiHAND: `np.trapz(pck, t) / np.trapz(ones, t)`)."""
    t = _as_thresholds(thresholds, curve)
    if t.dim() != 1 or t.numel() < 2 or curve.shape[-1] != t.numel():
        raise ValueError(f"need >= 2 thresholds matching the curve's last dim, got {tuple(t.shape)} / {curve.shape}")
    return torch.trapezoid(curve, t, dim=-1) / (t[-1] - t[0])
