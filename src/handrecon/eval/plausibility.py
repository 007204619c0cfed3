"""Physical and anatomical plausibility rates of reconstructions.

The geometric quantities (penetration depth, angles outside the range of motion) are computed elsewhere
(`geometry` winding numbers, `hand` anatomy); these functions only turn them into the reported rates.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from handrecon.eval._common import MM_PER_M
from handrecon.hand.tolerances import JOINT_LIMIT_TOLERANCE_DEG, PENETRATION_TOLERANCE_MM


def penetration_flags(depths: torch.Tensor, d_tol_mm: float = PENETRATION_TOLERANCE_MM) -> torch.Tensor:
    """(B,) bool: whether each reconstruction's penetration depth (B,) in metres exceeds `d_tol_mm`
    (strictly; 6 mm is the tolerance of the knowledge-prior paper (Zhang et al.))."""
    if depths.dim() != 1:
        raise ValueError(f"expected one penetration depth per reconstruction (B,), got {tuple(depths.shape)}")
    return depths > d_tol_mm / MM_PER_M


def penetration_rate(depths: torch.Tensor, d_tol_mm: float = PENETRATION_TOLERANCE_MM) -> torch.Tensor:
    """Penetration rate (PR): share in [0, 1] of reconstructions whose penetration depth (B,), in metres,
    exceeds `d_tol_mm` millimetres (scalar tensor; multiply by 100 for the percentage papers print)."""
    flags = penetration_flags(depths, d_tol_mm)
    return flags.to(depths.dtype).mean() if flags.numel() else depths.new_tensor(torch.nan)


class JointLimitViolation(NamedTuple):
    """Joint-limit violations of a batch: dataset figures and the per-sample values they come from."""

    rate: torch.Tensor  # scalar: share of samples with a violation beyond the tolerance, in [0, 1]
    mean_deg: torch.Tensor  # scalar: mean over samples of `sample_mean_deg`, degrees
    violating: torch.Tensor  # (B,) bool: any angle outside its range by more than the tolerance
    sample_mean_deg: torch.Tensor  # (B,): mean violation over all angles of the sample, degrees
    sample_max_deg: torch.Tensor  # (B,): largest violation of the sample, degrees


def joint_limit_violation(violations: torch.Tensor, tol_deg: float = JOINT_LIMIT_TOLERANCE_DEG) -> JointLimitViolation:
    """Rate and size of anatomical joint-limit violations.

    `violations` (B, 15, 3) (any (B, ...) works) holds, per joint and anatomical angle, how far the angle
    lies outside its range of motion in radians (0 inside; the sign is ignored so that signed overshoots
    below the lower limit count too). A sample violates when any amount exceeds `tol_deg` degrees; the
    tolerance absorbs annotation noise in the ranges themselves.
    """
    if violations.dim() < 2:
        raise ValueError(f"expected per-sample violations (B, 15, 3), got {tuple(violations.shape)}")
    amounts = violations.abs().flatten(1)
    violating = (amounts > math.radians(tol_deg)).any(-1)
    sample_mean = torch.rad2deg(amounts.mean(-1))
    sample_max = torch.rad2deg(amounts.amax(-1)) if amounts.shape[1] else torch.zeros_like(sample_mean)
    return JointLimitViolation(
        rate=violating.to(violations.dtype).mean(),
        mean_deg=sample_mean.mean(),
        violating=violating,
        sample_mean_deg=sample_mean,
        sample_max_deg=sample_max,
    )
