"""Mean relative-root position error (MRRPE) of two-hand reconstructions (InterHand2.6M protocol).

MRRPE = | (r_right_pred - r_left_pred) - (r_right_gt - r_left_gt) |, the error of the left-to-right root
offset. It scores how well the two hands are placed relative to each other, which per-hand
root-relative errors cannot see.
"""

from __future__ import annotations

import torch

from handrecon.eval._common import MM_PER_M, point_distances


def _roots(x: torch.Tensor, root_index: int) -> torch.Tensor:
    if x.dim() == 2:
        return x
    if x.dim() == 3:
        return x[:, root_index]
    raise ValueError(f"expected roots (B, 3) or joints (B, J, 3), got {tuple(x.shape)}")


def mrrpe(
    pred_left: torch.Tensor,
    pred_right: torch.Tensor,
    gt_left: torch.Tensor,
    gt_right: torch.Tensor,
    root_index: int = 0,
    valid: torch.Tensor | None = None,
) -> torch.Tensor:
    """Per-sample MRRPE (B,) in mm from roots (B, 3) or joints (B, J, 3) in metres (root at `root_index`,
    the wrist in OpenPose-21). `valid` (B,) marks samples where both ground-truth roots are known;
    the others give NaN."""
    roots = [_roots(x, root_index) for x in (pred_left, pred_right, gt_left, gt_right)]
    if len({r.shape for r in roots}) != 1:
        raise ValueError(f"all four inputs must give roots of one shape, got {[tuple(r.shape) for r in roots]}")
    pl, pr, gl, gr = roots
    err = point_distances(pr - pl, gr - gl) * MM_PER_M
    if valid is None:
        return err
    if valid.shape != err.shape:
        raise ValueError(f"valid must have shape {tuple(err.shape)}, got {tuple(valid.shape)}")
    return torch.where(valid.to(err.device) > 0, err, torch.nan)
