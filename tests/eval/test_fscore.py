"""F-score between vertex sets: identical, far apart, a hand-computed case, batching, alignment."""

from __future__ import annotations

import pytest
import torch

from handrecon.eval import fscore, nearest_neighbour_distances
from handrecon.geometry.procrustes import apply_similarity
from handrecon.geometry.rotations import axis_angle_to_matrix


def cloud(n: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(2, n, 3, generator=gen, dtype=torch.float64) * 0.05


def test_identical_sets_score_one_and_far_sets_zero():
    v = cloud(100, 0)
    for th in (5.0, 15.0):
        res = fscore(v, v, th)
        torch.testing.assert_close(res.fscore, torch.ones(2, dtype=torch.float64))
        far = fscore(v + 1.0, v, th)
        torch.testing.assert_close(far.fscore, torch.zeros(2, dtype=torch.float64))
        torch.testing.assert_close(far.precision, torch.zeros(2, dtype=torch.float64))


def test_hand_computed_intermediate_case():
    # gt: 4 points along x at 0, 10, 20, 30 mm; pred: 2 points at 1 mm and 100 mm.
    gt = torch.tensor([[[0.0, 0, 0], [0.010, 0, 0], [0.020, 0, 0], [0.030, 0, 0]]], dtype=torch.float64)
    pred = torch.tensor([[[0.001, 0, 0], [0.100, 0, 0]]], dtype=torch.float64)
    at5 = fscore(pred, gt, 5.0)
    assert at5.precision.item() == pytest.approx(1 / 2)  # only the point at 1 mm is near the ground truth
    assert at5.recall.item() == pytest.approx(1 / 4)  # only gt point 0 is near a prediction
    assert at5.fscore.item() == pytest.approx(2 * 0.5 * 0.25 / 0.75)
    # At 15 mm the point at 1 mm reaches gt points 0 and 10 mm: recall 2/4, precision still 1/2.
    assert fscore(pred, gt, 15.0).fscore.item() == pytest.approx(0.5)


def test_batch_entries_are_independent():
    v = cloud(50, 1)
    pred = v.clone()
    pred[1] += 1.0
    torch.testing.assert_close(fscore(pred, v, 5.0).fscore, torch.tensor([1.0, 0.0], dtype=torch.float64))


def test_alignment_makes_a_similar_mesh_perfect():
    v = cloud(60, 2)
    R = axis_angle_to_matrix(torch.tensor([[0.3, -1.0, 2.0], [1.5, 0.2, 0.1]], dtype=torch.float64))
    moved = apply_similarity(v, torch.tensor([1.2, 0.8], dtype=torch.float64), R, torch.ones(2, 3, dtype=torch.float64))
    assert (fscore(moved, v, 5.0).fscore < 0.5).all()
    torch.testing.assert_close(fscore(moved, v, 5.0, align=True).fscore, torch.ones(2, dtype=torch.float64))


def test_nearest_neighbour_distances_match_brute_force_in_chunks():
    a, b = cloud(37, 3), cloud(23, 4)
    brute = (a[:, :, None] - b[:, None]).norm(dim=-1).amin(-1)
    torch.testing.assert_close(nearest_neighbour_distances(a, b, chunk_size=5), brute)


def test_threshold_is_strict_as_in_freihand():
    gt = torch.zeros(1, 1, 3, dtype=torch.float64)
    pred = torch.tensor([[[0.005, 0.0, 0.0]]], dtype=torch.float64)  # exactly 5 mm away
    at = fscore(pred, gt, 5.0)
    assert at.precision.item() == 0.0 and at.recall.item() == 0.0 and at.fscore.item() == 0.0
    assert fscore(pred, gt, 5.001).fscore.item() == 1.0
