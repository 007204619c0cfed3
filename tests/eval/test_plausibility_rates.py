"""Penetration rate and joint-limit violation rate."""

from __future__ import annotations

import math

import pytest
import torch

from handrecon.eval import joint_limit_violation, penetration_flags, penetration_rate


def test_penetration_rate_counts_depths_strictly_above_tolerance():
    depths = torch.tensor([0.001, 0.007, 0.006, 0.010, 0.0], dtype=torch.float64)  # metres
    assert penetration_flags(depths).tolist() == [False, True, False, True, False]
    assert penetration_rate(depths).item() == pytest.approx(2 / 5)
    assert penetration_rate(depths, d_tol_mm=0.5).item() == pytest.approx(4 / 5)
    with pytest.raises(ValueError):
        penetration_rate(depths[None])


def test_joint_limit_violation_rate_and_mean():
    v = torch.zeros(3, 15, 3, dtype=torch.float64)
    v[0, 4, 1] = math.radians(6.0)  # beyond the 5 degree tolerance
    v[1, 0, 0] = -math.radians(4.0)  # a signed overshoot below the lower limit, within tolerance
    v[2, 14, 2] = math.radians(5.0)  # exactly at the tolerance: not a violation
    res = joint_limit_violation(v)
    assert res.violating.tolist() == [True, False, False]
    assert res.rate.item() == pytest.approx(1 / 3)
    torch.testing.assert_close(res.sample_mean_deg, torch.tensor([6.0, 4.0, 5.0], dtype=torch.float64) / 45)
    assert res.mean_deg.item() == pytest.approx(15.0 / 45 / 3)
    torch.testing.assert_close(res.sample_max_deg, torch.tensor([6.0, 4.0, 5.0], dtype=torch.float64))
    assert joint_limit_violation(v, tol_deg=3.0).rate.item() == pytest.approx(1.0)
