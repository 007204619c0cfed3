"""F-score between predicted and ground-truth vertex sets, as the FreiHAND/HO3D evaluation scripts.

For a distance threshold d (FreiHAND reports d = 5 mm and 15 mm): precision is the share of predicted
points whose nearest ground-truth point is closer than d, recall the share of ground-truth points whose
nearest predicted point is closer than d (strict `<`), and F = 2 P R / (P + R), 0 when P + R = 0.
Correspondences are not used, so the two sets may differ in size. FreiHAND scores the vertices after a
similarity Procrustes alignment: pass `align=True` (needs equal-sized, corresponding sets).
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from handrecon.eval._common import MM_PER_M
from handrecon.geometry.procrustes import similarity_procrustes


class FScore(NamedTuple):
    """Per-sample F-score with its precision and recall, each (B,) in [0, 1]."""

    fscore: torch.Tensor
    precision: torch.Tensor
    recall: torch.Tensor


def nearest_neighbour_distances(src: torch.Tensor, dst: torch.Tensor, chunk_size: int = 1024) -> torch.Tensor:
    """Distance from every point of `src` (B, N, D) to its nearest point of `dst` (B, M, D) -> (B, N).

    Exact distances (no |a|^2 + |b|^2 - 2ab shortcut, whose cancellation would blur a 5 mm threshold),
    computed in chunks of `src` points to bound memory at B * chunk_size * M.
    """
    if src.dim() != 3 or dst.dim() != 3 or src.shape[0] != dst.shape[0] or src.shape[-1] != dst.shape[-1]:
        raise ValueError(f"expected point sets (B, N, D) and (B, M, D), got {tuple(src.shape)} and {tuple(dst.shape)}")
    if dst.shape[1] == 0:
        return torch.full(src.shape[:2], torch.inf, dtype=src.dtype, device=src.device)
    parts = [
        torch.cdist(chunk, dst, compute_mode="donot_use_mm_for_euclid_dist").amin(-1)
        for chunk in src.split(chunk_size, dim=1)
    ]
    return torch.cat(parts, dim=1) if parts else src.new_zeros(src.shape[:2])


def fscore(pred: torch.Tensor, gt: torch.Tensor, threshold_mm: float = 5.0, align: bool = False) -> FScore:
    """F-score at `threshold_mm` between point sets pred (B, N, 3) and gt (B, M, 3) in metres -> (B,) each.

    `align=True` first aligns pred onto gt with a similarity Procrustes (FreiHAND's protocol). An empty
    set scores 0, as the reference scripts do.
    """
    dtype = torch.promote_types(pred.dtype, gt.dtype)  # e.g. float32 predictions against float64 labels
    pred, gt = pred.to(dtype), gt.to(dtype)
    if align:
        pred = similarity_procrustes(pred, gt).aligned
    th = threshold_mm / MM_PER_M
    d_pred = nearest_neighbour_distances(pred, gt)  # each predicted point to the ground truth
    d_gt = nearest_neighbour_distances(gt, pred)  # each ground-truth point to the prediction
    zero = pred.new_zeros(pred.shape[0])
    precision = (d_pred < th).to(pred.dtype).mean(-1) if pred.shape[1] else zero
    recall = (d_gt < th).to(pred.dtype).mean(-1) if gt.shape[1] else zero
    total = precision + recall
    f = torch.where(total > 0, 2 * precision * recall / torch.where(total > 0, total, 1.0), 0.0)
    return FScore(f, precision, recall)
