"""PCK and AUC: hand-computed curves, FreiHAND pooling, and the exact discrete AUC of a constant error."""

from __future__ import annotations

import math

import pytest
import torch

from handrecon.eval import auc, default_thresholds_mm, pck, pck_2d, pck_curve, point_errors_mm


def test_default_thresholds_are_freihand_grid():
    t = default_thresholds_mm()
    assert t.numel() == 100 and t[0].item() == 0.0 and t[-1].item() == 50.0
    torch.testing.assert_close(t[1] - t[0], torch.tensor(50.0 / 99, dtype=torch.float64))


def test_auc_of_a_constant_10mm_error_is_the_exact_discrete_value():
    # Thresholds t_k = 50 k / 99 mm, k = 0..99. PCK(t_k) = 1 iff t_k >= 10 mm iff k >= 19.8, i.e. k >= 20.
    # Trapezoids of width h = 50/99: one half-height step on [t_19, t_20] and 79 full ones on [t_20, t_99],
    # so the integral is 79.5 h and AUC = 79.5 h / (99 h) = 79.5 / 99 (the continuous value would be 0.8).
    errors = torch.full((7, 21), 10.0, dtype=torch.float64)
    t = default_thresholds_mm()
    expected = 79.5 / 99
    assert auc(pck_curve(errors, t), t).item() == pytest.approx(expected, abs=1e-12)
    per_sample = auc(pck(errors, t), t)
    torch.testing.assert_close(per_sample, torch.full((7,), expected, dtype=torch.float64))
    assert expected != pytest.approx(0.8)


def test_auc_extremes_and_a_linear_curve():
    t = default_thresholds_mm()
    assert auc(pck_curve(torch.zeros(3, 21, dtype=torch.float64), t), t).item() == pytest.approx(1.0)
    assert auc(pck_curve(torch.full((3, 21), 60.0, dtype=torch.float64), t), t).item() == 0.0
    assert auc(t / 50.0, t).item() == pytest.approx(0.5)  # trapezoids are exact on a line
    custom = torch.tensor([0.0, 10.0, 30.0], dtype=torch.float64)
    # (0 + 0.5)/2 * 10 + (0.5 + 1)/2 * 20 = 2.5 + 15 = 17.5, over a range of 30.
    assert auc(torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64), custom).item() == pytest.approx(17.5 / 30)
    with pytest.raises(ValueError):
        auc(torch.ones(5), custom)


def test_pck_is_inclusive_and_respects_visibility():
    errors = torch.tensor([[1.0, 5.0, 10.0], [7.0, 0.0, 100.0]])
    torch.testing.assert_close(pck(errors, 5.0), torch.tensor([2 / 3, 1 / 3]))
    valid = torch.tensor([[True, False, True], [False, False, False]])
    out = pck(errors, 5.0, valid)
    assert out[0].item() == pytest.approx(0.5) and math.isnan(out[1].item())
    assert pck(errors, torch.tensor([0.0, 10.0])).shape == (2, 2)


def test_pck_curve_pools_per_keypoint_as_freihand():
    # keypoint 0 valid in both samples (errors 1, 20); keypoint 1 valid only in sample 0 (error 30).
    errors = torch.tensor([[1.0, 30.0], [20.0, 0.0]], dtype=torch.float64)
    valid = torch.tensor([[True, True], [True, False]])
    curve = pck_curve(errors, torch.tensor([10.0, 25.0, 40.0], dtype=torch.float64), valid)
    # At 10 mm: keypoint 0 -> 1/2, keypoint 1 -> 0, mean 1/4 (pooling all points would give 1/3).
    torch.testing.assert_close(curve, torch.tensor([0.25, 0.5, 1.0], dtype=torch.float64))
    never = torch.zeros(2, 2, dtype=torch.bool)
    assert torch.isnan(pck_curve(errors, torch.tensor([10.0], dtype=torch.float64), never)).all()


def test_pck_on_3d_errors_uses_millimetres():
    gt = torch.zeros(1, 2, 3)
    pred = torch.tensor([[[0.004, 0.0, 0.0], [0.0, 0.006, 0.0]]])
    assert pck(point_errors_mm(pred, gt), 5.0).item() == pytest.approx(0.5)


def test_pck_2d_in_pixels_with_missing_joints():
    gt = torch.zeros(1, 3, 2)
    pred = torch.tensor([[[3.0, 4.0], [6.0, 8.0], [0.0, 1.0]]])  # 5, 10 and 1 px
    assert pck_2d(pred, gt, 5.0).item() == pytest.approx(2 / 3)
    assert pck_2d(pred, gt, 5.0, torch.tensor([[False, True, True]])).item() == pytest.approx(0.5)
