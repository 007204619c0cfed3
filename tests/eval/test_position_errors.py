"""MPJPE / MPVPE and their aligned variants: hand-computed values, invariances, masks, gradients."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from handrecon.eval import (
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
from handrecon.geometry.procrustes import apply_similarity
from handrecon.geometry.rotations import axis_angle_to_matrix


def hand_like(batch: int, seed: int, dtype=torch.float64) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(batch, 21, 3, generator=gen, dtype=torch.float64) * 0.04).to(dtype)


def test_mpjpe_hand_computed_in_millimetres():
    gt = torch.zeros(1, 2, 3)
    pred = gt.clone()
    pred[0, 0] = torch.tensor([0.003, 0.004, 0.0])  # a 3-4-5 triangle: 5 mm
    torch.testing.assert_close(mpjpe(pred, gt), torch.tensor([2.5]))
    torch.testing.assert_close(point_errors_mm(pred, gt), torch.tensor([[5.0, 0.0]]))
    torch.testing.assert_close(mpvpe(pred, gt), torch.tensor([2.5]))


def test_valid_mask_ignores_missing_joints_and_empty_samples_are_nan():
    gt = torch.zeros(2, 3, 3, dtype=torch.float64)
    pred = gt.clone()
    pred[:, 0, 0] = 0.002
    pred[:, 2, 0] = 10.0  # missing joint with a huge error
    valid = torch.tensor([[True, True, False], [False, False, False]])
    out = mpjpe(pred, gt, valid)
    assert out[0].item() == pytest.approx(1.0)
    assert math.isnan(out[1].item())
    assert mpjpe(pred, gt)[0].item() > 1000.0


def test_root_relative_mpjpe_hand_computed():
    gt = hand_like(1, 0)
    pred = gt + torch.tensor([0.3, -0.1, 0.2], dtype=torch.float64)  # global offset, removed
    pred[0, 8] += torch.tensor([0.0, 0.0, 0.021], dtype=torch.float64)  # one tip 21 mm off
    assert root_relative_mpjpe(pred, gt).item() == pytest.approx(21.0 / 21)
    assert mpjpe(pred, gt).item() > 300.0
    # A different root index: the error of joint 8 moves onto every other joint.
    assert root_relative_mpjpe(pred, gt, root_index=8).item() == pytest.approx(20 * 21.0 / 21)


def test_root_relative_is_nan_when_the_root_is_missing():
    gt = hand_like(2, 1)
    valid = torch.ones(2, 21, dtype=torch.bool)
    valid[1, 0] = False
    out = root_relative_mpjpe(gt + 0.01, gt, valid)
    assert out[0].item() == pytest.approx(0.0, abs=1e-9)
    assert math.isnan(out[1].item())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_pa_errors_vanish_under_random_similarity(dtype):
    gen = torch.Generator().manual_seed(2)
    gt = hand_like(8, 3)
    R = axis_angle_to_matrix(torch.randn(8, 3, generator=gen, dtype=torch.float64) * 2)
    s = torch.rand(8, generator=gen, dtype=torch.float64) + 0.5
    t = torch.randn(8, 3, generator=gen, dtype=torch.float64)
    pred = apply_similarity(gt, s, R, t)
    tol = 1e-6 if dtype == torch.float64 else 1e-2  # mm
    assert (pa_mpjpe(pred.to(dtype), gt.to(dtype)) < tol).all()
    assert (pa_mpvpe(pred.to(dtype), gt.to(dtype)) < tol).all()
    assert (mpjpe(pred, gt) > 10.0).all()  # the raw error does see the transform


def test_pa_error_of_a_non_rigid_deformation_is_positive_and_least_squares():
    gt = hand_like(4, 4)
    pred = gt.clone()
    pred[:, 5:9, 1] += 0.01  # lift the index finger by 1 cm
    assert (pa_mpjpe(pred, gt) > 0.5).all()
    # Procrustes minimises the squared error (not the mean distance, which it may even increase).
    aligned = align_points(pred, gt, "similarity")
    assert ((aligned - gt).pow(2).sum((1, 2)) < (pred - gt).pow(2).sum((1, 2))).all()


def test_st_mpjpe_matches_ho3d_reference():
    gt = hand_like(3, 5)
    pred = 1.3 * gt + 0.2 + 0.004 * hand_like(3, 6)

    def ho3d_align_sc_tr(g: np.ndarray, p: np.ndarray) -> np.ndarray:
        # The HO3D script in MANO order uses joints 0 and 4; in OpenPose order these are 0 and 9.
        p = p / np.linalg.norm(p[9] - p[0]) * np.linalg.norm(g[9] - g[0])
        return p - p[:1] + g[:1]

    pairs = zip(gt.numpy(), pred.numpy(), strict=True)
    ref = [np.linalg.norm(ho3d_align_sc_tr(g, p) - g, axis=-1).mean() * 1000 for g, p in pairs]
    np.testing.assert_allclose(st_mpjpe(pred, gt).numpy(), ref, rtol=1e-10)
    assert (st_mpjpe(2.0 * gt + 1.0, gt) < 1e-9).all()


def test_every_alignment_is_exact_on_a_perfect_prediction_and_unknown_names_fail():
    gt = hand_like(2, 7)
    for align in ALIGNMENTS:
        assert (mean_point_error(gt, gt, align=align) < 1e-6).all(), align
    with pytest.raises(ValueError, match="unknown alignment"):
        mean_point_error(gt, gt, align="affine")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="same shape"):
        mpjpe(gt, gt[:, :20])


def test_masked_pa_mpjpe_aligns_on_valid_joints_only():
    gt = hand_like(1, 8)
    pred = gt.clone()
    pred[0, 20] += 0.5  # a wildly wrong but invisible joint
    valid = torch.ones(1, 21, dtype=torch.bool)
    valid[0, 20] = False
    assert pa_mpjpe(pred, gt, valid).item() < 1e-6
    assert pa_mpjpe(pred, gt).item() > 1.0


def test_gradients_are_finite_even_at_zero_error():
    gt = hand_like(2, 9)
    for fn in (mpjpe, pa_mpjpe, root_relative_mpjpe, st_mpjpe):
        for pred in (gt.clone(), gt + 0.01 * hand_like(2, 10)):
            pred.requires_grad_(True)
            fn(pred, gt).sum().backward()
            assert torch.isfinite(pred.grad).all(), fn.__name__


def test_missing_joints_stored_as_nan_do_not_leak():
    gt = hand_like(2, 11)
    pred = gt + 0.002
    gt[:, 4] = float("nan")  # unannotated joint
    valid = torch.ones(2, 21, dtype=torch.bool)
    valid[:, 4] = False
    for fn in (mpjpe, pa_mpjpe, root_relative_mpjpe, st_mpjpe):
        assert torch.isfinite(fn(pred, gt, valid)).all(), fn.__name__
    assert mpjpe(pred, gt, valid)[0].item() == pytest.approx(2.0 * 3**0.5)
    assert (pa_mpjpe(pred, gt, valid) < 1e-6).all()
