"""Mean per-joint / per-vertex position errors, raw and after alignment.

Inputs are 3D points in metres, (B, N, 3); outputs are per-sample errors (B,) in millimetres, the unit
the hand literature reports. `valid` (B, N) (bool or 0/1) restricts both the alignment and the mean to the
valid points; a sample with no valid point (or, for root-based alignments, an invalid root) gives NaN.

Definitions (the error is always the mean Euclidean distance over valid points):
- MPJPE / MPVPE: no alignment.
- root-relative MPJPE: both sets translated so that their root joints coincide.
- PA-MPJPE / PA-MPVPE (E_J / E_V of the papers): after a similarity Procrustes alignment (rotation,
  translation, scale), as FreiHAND's `align_w_scale`; the rotation is proper.
- ST-MPJPE: after HO3D's scale-translation alignment (`root_bone_scale_align`).
"""

from __future__ import annotations

from typing import Literal, get_args

import torch

from handrecon.eval._common import MM_PER_M, as_mask, check_same_shape, masked_mean, point_distances
from handrecon.geometry.procrustes import (
    root_bone_scale_align,
    scale_translation_align,
    similarity_procrustes,
    translation_align,
)
from handrecon.hand.keypoints import WRIST_TO_MIDDLE_MCP

Alignment = Literal["none", "root", "centroid", "rigid", "similarity", "scale_translation", "root_bone_scale"]
ALIGNMENTS: tuple[str, ...] = get_args(Alignment)


def point_errors_mm(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """Per-point Euclidean errors (B, N) in millimetres for points (B, N, D) in metres (the input of PCK)."""
    check_same_shape(pred, gt)
    return point_distances(pred, gt) * MM_PER_M


def align_points(
    pred: torch.Tensor,
    gt: torch.Tensor,
    align: Alignment = "none",
    valid: torch.Tensor | None = None,
    root_index: int = 0,
    ref_bone: tuple[int, int] = WRIST_TO_MIDDLE_MCP,
) -> torch.Tensor:
    """`pred` aligned onto `gt` by one of `ALIGNMENTS`; `valid` weights the least-squares alignments."""
    check_same_shape(pred, gt)
    weights = as_mask(valid, pred.shape[:-1], pred)
    if align == "none":
        return pred
    if align == "root":
        return translation_align(pred, gt, root_index=root_index).aligned
    if align == "centroid":
        return translation_align(pred, gt, weights).aligned
    if align == "rigid":
        return similarity_procrustes(pred, gt, weights, with_scale=False).aligned
    if align == "similarity":
        return similarity_procrustes(pred, gt, weights).aligned
    if align == "scale_translation":
        return scale_translation_align(pred, gt, weights).aligned
    if align == "root_bone_scale":
        return root_bone_scale_align(pred, gt, root_index, ref_bone).aligned
    raise ValueError(f"unknown alignment {align!r}; expected one of {ALIGNMENTS}")


def _required_joints_valid(valid: torch.Tensor | None, align: str, root_index: int, ref_bone: tuple[int, int]):
    """(B,) bool: whether the joints a root-based alignment relies on are valid (None when not needed)."""
    if valid is None or align not in ("root", "root_bone_scale"):
        return None
    needed = [root_index] if align == "root" else sorted({root_index, *ref_bone})
    return (valid[..., needed] > 0).all(-1)


def mean_point_error(
    pred: torch.Tensor,
    gt: torch.Tensor,
    valid: torch.Tensor | None = None,
    align: Alignment = "none",
    root_index: int = 0,
    ref_bone: tuple[int, int] = WRIST_TO_MIDDLE_MCP,
) -> torch.Tensor:
    """Mean Euclidean error (B,) in mm between points (B, N, 3) in metres after the alignment `align`.

    The general form behind every named metric of this module; `valid` (B, N) masks points. Mixed float
    dtypes are promoted (e.g. float32 predictions against float64 labels).
    """
    dtype = torch.promote_types(pred.dtype, gt.dtype)
    pred, gt = pred.to(dtype), gt.to(dtype)
    aligned = align_points(pred, gt, align, valid, root_index, ref_bone)
    mask = as_mask(valid, pred.shape[:-1], pred)
    err = masked_mean(point_distances(aligned, gt), mask) * MM_PER_M
    needed = _required_joints_valid(valid, align, root_index, ref_bone)
    return err if needed is None else torch.where(needed, err, torch.nan)


def mpjpe(pred: torch.Tensor, gt: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
    """Mean per-joint position error (B,) in mm, no alignment; joints (B, J, 3) in metres."""
    return mean_point_error(pred, gt, valid)


def mpvpe(pred: torch.Tensor, gt: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
    """Mean per-vertex position error (B,) in mm, no alignment; vertices (B, V, 3) in metres."""
    return mean_point_error(pred, gt, valid)


def root_relative_mpjpe(
    pred: torch.Tensor, gt: torch.Tensor, valid: torch.Tensor | None = None, root_index: int = 0
) -> torch.Tensor:
    """MPJPE (B,) in mm after subtracting each set's root joint (index 0 = wrist in OpenPose-21 order).

    Scores the articulated pose independently of the absolute placement, which a monocular method
    can only estimate up to depth ambiguity.
    """
    return mean_point_error(pred, gt, valid, align="root", root_index=root_index)


def pa_mpjpe(pred: torch.Tensor, gt: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
    """Procrustes-aligned MPJPE (E_J), (B,) in mm: similarity alignment (rotation, translation, scale)
    of the predicted joints onto the ground truth, then the mean joint error, as FreiHAND/HO3D report it."""
    return mean_point_error(pred, gt, valid, align="similarity")


def pa_mpvpe(pred: torch.Tensor, gt: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
    """Procrustes-aligned MPVPE (E_V), (B,) in mm: the vertices are aligned on their own (as FreiHAND
    aligns the mesh independently of the joints), then the mean vertex error."""
    return mean_point_error(pred, gt, valid, align="similarity")


def st_mpjpe(
    pred: torch.Tensor,
    gt: torch.Tensor,
    valid: torch.Tensor | None = None,
    root_index: int = 0,
    ref_bone: tuple[int, int] = WRIST_TO_MIDDLE_MCP,
) -> torch.Tensor:
    """Scale-translation aligned MPJPE (B,) in mm, HO3D style: the prediction is rescaled so that its
    reference bone (wrist -> middle MCP in OpenPose-21) matches the ground-truth length and its root is
    moved onto the ground-truth root. Also the "root-aligned, bone-length scaled" MPJPE of two-hand work."""
    return mean_point_error(pred, gt, valid, align="root_bone_scale", root_index=root_index, ref_bone=ref_bone)
