"""Evaluation metrics: pure, batched functions over tensors, as the FreiHAND / HO3D / InterHand protocols
define them, plus `MetricReport` to accumulate and print them.

Units: 3D inputs in metres, 3D errors out in millimetres (names end in '_mm' or docstrings say so);
2D inputs and errors in pixels; rates, PCK, AUC, F-score and SSIM in [0, 1]; PSNR in dB; angles in
degrees where reported. Per-sample functions return (B,) so that a report can pool a whole dataset.
"""

from handrecon.eval.fscore import FScore, fscore, nearest_neighbour_distances
from handrecon.eval.hand_metrics import hand_metrics
from handrecon.eval.image_quality import gaussian_window, psnr, ssim, ssim_map
from handrecon.eval.keypoints_2d import keypoint_errors_2d, l2_error_2d, pck_2d
from handrecon.eval.mrrpe import mrrpe
from handrecon.eval.pck import auc, default_thresholds_mm, pck, pck_curve
from handrecon.eval.plausibility import JointLimitViolation, joint_limit_violation, penetration_flags, penetration_rate
from handrecon.eval.position_error import (
    ALIGNMENTS,
    align_points,
    mean_point_error,
    mpjpe,
    mpvpe,
    pa_mpjpe,
    pa_mpvpe,
    point_errors_mm,
    root_relative_mpjpe,
    st_mpjpe,
)
from handrecon.eval.report import STATISTICS, MetricReport, format_comparison

__all__ = [
    "ALIGNMENTS",
    "STATISTICS",
    "FScore",
    "JointLimitViolation",
    "MetricReport",
    "align_points",
    "auc",
    "default_thresholds_mm",
    "format_comparison",
    "fscore",
    "gaussian_window",
    "hand_metrics",
    "joint_limit_violation",
    "keypoint_errors_2d",
    "l2_error_2d",
    "mean_point_error",
    "mpjpe",
    "mpvpe",
    "mrrpe",
    "nearest_neighbour_distances",
    "pa_mpjpe",
    "pa_mpvpe",
    "pck",
    "pck_2d",
    "pck_curve",
    "penetration_flags",
    "penetration_rate",
    "point_errors_mm",
    "psnr",
    "root_relative_mpjpe",
    "ssim",
    "ssim_map",
    "st_mpjpe",
]
