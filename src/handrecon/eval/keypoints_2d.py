"""2D keypoint metrics in pixels: mean L2 error and PCK, over visible keypoints only.

Detected or annotated 2D keypoints are often missing (occluded, outside the crop); `valid` (B, J)
excludes them so that a missing joint neither counts as an error nor as a hit.
"""

from __future__ import annotations

import torch

from handrecon.eval._common import as_mask, check_same_shape, masked_mean, point_distances
from handrecon.eval.pck import pck


def _check_2d(pred_px: torch.Tensor, gt_px: torch.Tensor) -> None:
    check_same_shape(pred_px, gt_px, "keypoints")
    if pred_px.shape[-1] != 2:
        raise ValueError(f"expected 2D keypoints (B, J, 2) in pixels, got {tuple(pred_px.shape)}")


def keypoint_errors_2d(pred_px: torch.Tensor, gt_px: torch.Tensor) -> torch.Tensor:
    """Per-keypoint pixel distances (B, J) for keypoints (B, J, 2) in pixels."""
    _check_2d(pred_px, gt_px)
    return point_distances(pred_px, gt_px)


def l2_error_2d(pred_px: torch.Tensor, gt_px: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
    """Mean 2D L2 error (B,) in pixels over the valid keypoints (NaN for a sample without any)."""
    err = keypoint_errors_2d(pred_px, gt_px)
    return masked_mean(err, as_mask(valid, err.shape, err))


def pck_2d(
    pred_px: torch.Tensor,
    gt_px: torch.Tensor,
    threshold_px: torch.Tensor | float,
    valid: torch.Tensor | None = None,
) -> torch.Tensor:
    """2D PCK: share of valid keypoints within `threshold_px` pixels (inclusive) -> (B,) for a scalar
    threshold, (B, T) for thresholds (T,); feed the latter to `auc` for a 2D AUC."""
    return pck(keypoint_errors_2d(pred_px, gt_px), threshold_px, valid)
