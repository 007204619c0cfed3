"""The standard 3D hand metrics of one batch under their report names, ready for `MetricReport.update`.

Follows the FreiHAND / HO3D protocol: joint errors raw, root-relative, Procrustes-aligned and HO3D
scale-translation aligned; vertex errors raw and Procrustes-aligned; AUC over 0-50 mm (100 thresholds)
of the aligned errors; F-scores at 5 and 15 mm of the Procrustes-aligned vertices.
"""

from __future__ import annotations

import torch

from handrecon.eval.fscore import fscore
from handrecon.eval.pck import auc, default_thresholds_mm, pck
from handrecon.eval.position_error import align_points, mean_point_error, point_errors_mm
from handrecon.hand.keypoints import MANO21_NAMES, OPENPOSE_NAMES, KeypointOrder

# Root joint and HO3D scale reference bone (wrist -> middle MCP) per keypoint order.
_ROOT_AND_BONE: dict[str, tuple[int, tuple[int, int]]] = {
    "openpose": (OPENPOSE_NAMES.index("wrist"), (OPENPOSE_NAMES.index("wrist"), OPENPOSE_NAMES.index("middle_mcp"))),
    "mano": (MANO21_NAMES.index("wrist"), (MANO21_NAMES.index("wrist"), MANO21_NAMES.index("middle1"))),
}


def _pa_auc(pred: torch.Tensor, gt: torch.Tensor, valid: torch.Tensor | None) -> torch.Tensor:
    """Per-sample AUC of the Procrustes-aligned errors; its dataset mean equals FreiHAND's AUC when every
    point is valid (FreiHAND pools per keypoint, which differs only when visibility varies)."""
    t = default_thresholds_mm(dtype=pred.dtype, device=pred.device)
    aligned = align_points(pred, gt, "similarity", valid)
    return auc(pck(point_errors_mm(aligned, gt), t, valid), t)


def hand_metrics(
    pred_joints: torch.Tensor,
    gt_joints: torch.Tensor,
    pred_verts: torch.Tensor | None = None,
    gt_verts: torch.Tensor | None = None,
    joint_valid: torch.Tensor | None = None,
    order: KeypointOrder = "openpose",
) -> dict[str, torch.Tensor]:
    """Per-sample metrics (B,) keyed by name with unit, for 21 joints (B, 21, 3) in keypoint `order`
    ('openpose' or 'mano') and optionally vertices (B, V, 3), all in metres; errors in mm, AUC and
    F-scores in [0, 1]. `joint_valid` (B, 21) masks joints; vertices are always complete."""
    if order not in _ROOT_AND_BONE:
        raise ValueError(f"unknown keypoint order {order!r}; expected one of {sorted(_ROOT_AND_BONE)}")
    root_index, ref_bone = _ROOT_AND_BONE[order]
    with torch.no_grad():
        out = {
            "MPJPE [mm]": mean_point_error(pred_joints, gt_joints, joint_valid),
            "RR-MPJPE [mm]": mean_point_error(pred_joints, gt_joints, joint_valid, "root", root_index),
            "PA-MPJPE [mm]": mean_point_error(pred_joints, gt_joints, joint_valid, "similarity"),
            "ST-MPJPE [mm]": mean_point_error(
                pred_joints, gt_joints, joint_valid, "root_bone_scale", root_index, ref_bone
            ),
            "PA-AUC_J (0-50 mm)": _pa_auc(pred_joints, gt_joints, joint_valid),
        }
        if pred_verts is not None and gt_verts is not None:
            out["MPVPE [mm]"] = mean_point_error(pred_verts, gt_verts)
            out["PA-MPVPE [mm]"] = mean_point_error(pred_verts, gt_verts, align="similarity")
            out["PA-AUC_V (0-50 mm)"] = _pa_auc(pred_verts, gt_verts, None)
            out["F@5mm"] = fscore(pred_verts, gt_verts, 5.0, align=True).fscore
            out["F@15mm"] = fscore(pred_verts, gt_verts, 15.0, align=True).fscore
    return out
