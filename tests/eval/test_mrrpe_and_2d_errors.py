"""MRRPE of two hands and 2D keypoint errors in pixels: hand-computed values and masks."""

from __future__ import annotations

import math

import pytest
import torch

from handrecon.eval import l2_error_2d, mrrpe


def test_mrrpe_hand_computed_from_roots_and_from_joints():
    pl = torch.tensor([[0.0, 0.0, 0.5]])
    pr = torch.tensor([[0.1, 0.0, 0.5]])
    gl = torch.tensor([[0.0, 0.0, 0.4]])
    gr = torch.tensor([[0.1, 0.03, 0.44]])
    # predicted offset (0.1, 0, 0) vs ground truth (0.1, 0.03, 0.04): 50 mm.
    assert mrrpe(pl, pr, gl, gr).item() == pytest.approx(50.0, rel=1e-5)
    joints = [torch.randn(1, 21, 3) for _ in range(4)]
    for j, root in zip(joints, (pl, pr, gl, gr), strict=True):
        j[:, 3] = root
    assert mrrpe(*joints, root_index=3).item() == pytest.approx(50.0, rel=1e-5)


def test_mrrpe_ignores_a_common_shift_and_masks_samples():
    gen = torch.Generator().manual_seed(0)
    pl, pr, gl, gr = torch.randn(4, 3, 3, generator=gen, dtype=torch.float64).unbind(0)
    shift = torch.randn(3, 3, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(mrrpe(pl + shift, pr + shift, gl, gr), mrrpe(pl, pr, gl, gr))
    out = mrrpe(pl, pr, gl, gr, valid=torch.tensor([True, False, True]))
    assert math.isnan(out[1].item()) and not math.isnan(out[0].item())


def test_l2_error_2d_hand_computed_with_missing_joints():
    gt = torch.zeros(2, 3, 2)
    pred = torch.tensor([[[3.0, 4.0], [0.0, 2.0], [50.0, 0.0]], [[0.0, 0.0], [0.0, 0.0], [0.0, 0.0]]])
    valid = torch.tensor([[True, True, False], [False, False, False]])
    out = l2_error_2d(pred, gt, valid)
    assert out[0].item() == pytest.approx(3.5)  # (5 + 2) / 2, the missing 50 px ignored
    assert math.isnan(out[1].item())
    assert l2_error_2d(pred, gt)[0].item() == pytest.approx(19.0)
    with pytest.raises(ValueError, match="2D"):
        l2_error_2d(torch.zeros(1, 3, 3), torch.zeros(1, 3, 3))
