"""The standard per-batch hand metrics and their use with MetricReport."""

from __future__ import annotations

import pytest
import torch

from handrecon.eval import MetricReport, hand_metrics
from handrecon.geometry.procrustes import apply_similarity
from handrecon.geometry.rotations import axis_angle_to_matrix
from handrecon.hand.keypoints import openpose_to_mano


def sample(seed: int):
    gen = torch.Generator().manual_seed(seed)
    joints = torch.randn(3, 21, 3, generator=gen, dtype=torch.float64) * 0.04
    verts = torch.randn(3, 100, 3, generator=gen, dtype=torch.float64) * 0.04
    return joints, verts


def test_perfect_prediction():
    j, v = sample(0)
    out = hand_metrics(j, j, v, v)
    for name in ("MPJPE [mm]", "RR-MPJPE [mm]", "PA-MPJPE [mm]", "ST-MPJPE [mm]", "MPVPE [mm]", "PA-MPVPE [mm]"):
        assert (out[name] < 1e-6).all(), name
    for name in ("F@5mm", "F@15mm"):
        torch.testing.assert_close(out[name], torch.ones(3, dtype=torch.float64))
    # The first threshold is 0 mm: rounding residue of the alignment (~1e-13 mm) may miss it, which costs
    # exactly half a trapezoid, 0.5 / 99, as in FreiHAND's own evaluation.
    for name in ("PA-AUC_J (0-50 mm)", "PA-AUC_V (0-50 mm)"):
        assert (out[name] >= 1 - 0.5 / 99 - 1e-12).all() and (out[name] <= 1).all()


def test_similarity_transformed_prediction_is_perfect_only_after_alignment():
    j, v = sample(1)
    s = torch.tensor([1.1, 0.9, 1.3], dtype=torch.float64)
    R = axis_angle_to_matrix(torch.tensor([[0.5, 0.1, 0.0], [0.0, 1.0, 0.2], [2.0, 0.0, 0.3]], dtype=torch.float64))
    t = torch.full((3, 3), 0.1, dtype=torch.float64)
    out = hand_metrics(apply_similarity(j, s, R, t), j, apply_similarity(v, s, R, t), v)
    assert (out["MPJPE [mm]"] > 10).all() and (out["MPVPE [mm]"] > 10).all()
    assert (out["PA-MPJPE [mm]"] < 1e-6).all() and (out["PA-MPVPE [mm]"] < 1e-6).all()
    torch.testing.assert_close(out["F@5mm"], torch.ones(3, dtype=torch.float64))


def test_mano_order_gives_the_same_numbers_and_joints_only_works():
    j, _ = sample(2)
    pred = j * 1.2 + 0.003 * sample(3)[0]
    op = hand_metrics(pred, j)
    mano = hand_metrics(openpose_to_mano(pred), openpose_to_mano(j), order="mano")
    assert set(op) == set(mano) and "F@5mm" not in op
    for name in op:
        torch.testing.assert_close(op[name], mano[name], msg=name)
    with pytest.raises(ValueError, match="keypoint order"):
        hand_metrics(pred, j, order="coco")  # type: ignore[arg-type]


def test_feeds_a_report():
    j, v = sample(4)
    report = MetricReport("ours")
    for _ in range(2):
        report.update(hand_metrics(j + 0.001, j, v, v))
    assert report.count("PA-MPJPE [mm]") == 6
    assert report.mean("MPJPE [mm]") == pytest.approx(3**0.5, rel=1e-9)
    assert "PA-MPVPE [mm]" in report.format_table()
