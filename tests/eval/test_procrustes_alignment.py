"""Procrustes aligners: exact recovery of known transforms, proper rotations, optimality, gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.linalg import orthogonal_procrustes
from scipy.spatial.transform import Rotation

from handrecon.geometry.procrustes import (
    apply_similarity,
    rigid_procrustes,
    root_bone_scale_align,
    scale_translation_align,
    similarity_procrustes,
    translation_align,
)
from handrecon.geometry.rotations import axis_angle_to_matrix


def random_similarity(batch: int, gen: torch.Generator, dtype=torch.float64):
    R = axis_angle_to_matrix(torch.randn(batch, 3, generator=gen, dtype=dtype) * 2.0)
    s = torch.rand(batch, generator=gen, dtype=dtype) * 2.0 + 0.3
    t = torch.randn(batch, 3, generator=gen, dtype=dtype)
    return s, R, t


@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-9), (torch.float32, 1e-4)])
def test_similarity_recovers_random_transform(dtype, tol):
    gen = torch.Generator().manual_seed(0)
    pred = torch.randn(6, 21, 3, generator=gen, dtype=torch.float64) * 0.05
    s, R, t = random_similarity(6, gen)
    gt = apply_similarity(pred, s, R, t)
    res = similarity_procrustes(pred.to(dtype), gt.to(dtype))
    assert res.aligned.dtype == dtype
    torch.testing.assert_close(res.aligned, gt.to(dtype), atol=tol * 0.1, rtol=0)
    torch.testing.assert_close(res.scale, s.to(dtype), atol=tol, rtol=tol)
    torch.testing.assert_close(res.rotation, R.to(dtype), atol=tol, rtol=0)
    torch.testing.assert_close(res.translation, t.to(dtype), atol=tol, rtol=0)


def test_aligned_equals_returned_transform_applied():
    gen = torch.Generator().manual_seed(1)
    pred, gt = torch.randn(2, 4, 10, 3, generator=gen, dtype=torch.float64).unbind(0)
    for res in (similarity_procrustes(pred, gt), rigid_procrustes(pred, gt), scale_translation_align(pred, gt)):
        torch.testing.assert_close(apply_similarity(pred, res.scale, res.rotation, res.translation), res.aligned)


def test_rotation_is_proper_when_best_orthogonal_map_is_a_reflection():
    gen = torch.Generator().manual_seed(2)
    pred = torch.randn(5, 30, 3, generator=gen, dtype=torch.float64)
    mirror = torch.diag(torch.tensor([1.0, 1.0, -1.0], dtype=torch.float64))
    gt = pred @ mirror  # a pure reflection: the best orthogonal map has det = -1
    res = similarity_procrustes(pred, gt)
    torch.testing.assert_close(torch.linalg.det(res.rotation), torch.ones(5, dtype=torch.float64))
    assert (res.aligned - gt).norm(dim=-1).mean() > 1e-2  # a rotation cannot undo a mirror

    free = similarity_procrustes(pred, gt, allow_reflection=True)
    torch.testing.assert_close(torch.linalg.det(free.rotation), -torch.ones(5, dtype=torch.float64))
    torch.testing.assert_close(free.aligned, gt)


def test_rigid_rotation_matches_independent_kabsch_on_reflected_data():
    gen = torch.Generator().manual_seed(3)
    pred = torch.randn(40, 3, generator=gen, dtype=torch.float64)
    gt = pred * torch.tensor([-1.0, 1.0, 1.0], dtype=torch.float64) + 0.01 * torch.randn(40, 3, generator=gen)
    res = rigid_procrustes(pred[None], gt[None])
    pc, gc = pred - pred.mean(0), gt - gt.mean(0)
    ref, _ = Rotation.align_vectors(gc.numpy(), pc.numpy())  # best proper rotation mapping pc onto gc
    np.testing.assert_allclose(res.rotation[0].numpy(), ref.as_matrix(), atol=1e-8)
    assert float(res.scale) == 1.0


def test_similarity_scale_is_optimal_for_its_rotation():
    gen = torch.Generator().manual_seed(4)
    pred = torch.randn(3, 21, 3, generator=gen, dtype=torch.float64)
    gt = pred @ torch.diag(torch.tensor([1.0, -1.0, 1.0], dtype=torch.float64)) * 1.7 + 0.2 * torch.randn(3, 21, 3)
    res = similarity_procrustes(pred, gt)
    pc = pred - pred.mean(-2, keepdim=True)
    gc = gt - gt.mean(-2, keepdim=True)
    rotated = pc @ res.rotation.transpose(-1, -2)
    s_opt = (rotated * gc).sum((-1, -2)) / (pc * pc).sum((-1, -2))
    torch.testing.assert_close(res.scale, s_opt)


def freihand_align_w_scale(gt: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """The public FreiHAND evaluation's alignment, written out with scipy for comparison."""
    t1, t2 = gt.mean(0), pred.mean(0)
    g, p = gt - t1, pred - t2
    s1, s2 = np.linalg.norm(g) + 1e-8, np.linalg.norm(p) + 1e-8
    g, p = g / s1, p / s2
    R, s = orthogonal_procrustes(g, p)
    return (p @ R.T) * s * s1 + t1


def test_similarity_matches_freihand_reference_on_noisy_data():
    gen = torch.Generator().manual_seed(5)
    gt = torch.randn(21, 3, generator=gen, dtype=torch.float64) * 0.04
    s, R, t = random_similarity(1, gen)
    pred = apply_similarity(gt[None] + 0.003 * torch.randn(1, 21, 3, generator=gen, dtype=torch.float64), s, R, t)[0]
    ours = similarity_procrustes(pred[None], gt[None]).aligned[0].numpy()
    np.testing.assert_allclose(ours, freihand_align_w_scale(gt.numpy(), pred.numpy()), atol=1e-7)


def test_non_rigid_deformation_leaves_a_residual():
    gen = torch.Generator().manual_seed(6)
    gt = torch.randn(2, 21, 3, generator=gen, dtype=torch.float64) * 0.05
    pred = gt.clone()
    pred[:, 5:9] += torch.tensor([0.0, 0.02, 0.0], dtype=torch.float64)  # bend one finger only
    res = similarity_procrustes(pred, gt)
    assert ((res.aligned - gt).norm(dim=-1).mean(-1) > 1e-3).all()


def test_zero_weight_points_do_not_influence_alignment():
    gen = torch.Generator().manual_seed(7)
    pred = torch.randn(2, 21, 3, generator=gen, dtype=torch.float64)
    s, R, t = random_similarity(2, gen)
    gt = apply_similarity(pred, s, R, t)
    gt[:, :3] += 5.0  # outliers, masked out below
    w = torch.ones(2, 21, dtype=torch.bool)
    w[:, :3] = False
    res = similarity_procrustes(pred, gt, w)
    torch.testing.assert_close(res.aligned[:, 3:], gt[:, 3:])
    torch.testing.assert_close(res.scale, s)
    unweighted = similarity_procrustes(pred, gt)
    assert not torch.allclose(unweighted.aligned[:, 3:], gt[:, 3:])


def test_leading_batch_dims_and_2d_points():
    gen = torch.Generator().manual_seed(8)
    pred = torch.randn(2, 3, 12, 3, generator=gen, dtype=torch.float64)
    res = similarity_procrustes(pred, pred * 2.0)
    assert res.scale.shape == (2, 3) and res.rotation.shape == (2, 3, 3, 3)
    torch.testing.assert_close(res.scale, torch.full((2, 3), 2.0, dtype=torch.float64))
    theta = torch.tensor(0.7, dtype=torch.float64)
    R2 = torch.stack([torch.stack([theta.cos(), -theta.sin()]), torch.stack([theta.sin(), theta.cos()])])
    p2 = torch.randn(1, 9, 2, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(similarity_procrustes(p2, p2 @ R2.T).rotation[0], R2)


def test_scale_translation_least_squares():
    gen = torch.Generator().manual_seed(9)
    pred = torch.randn(4, 21, 3, generator=gen, dtype=torch.float64)
    gt = 1.5 * pred + torch.tensor([0.1, -0.2, 0.3], dtype=torch.float64)
    res = scale_translation_align(pred, gt)
    torch.testing.assert_close(res.aligned, gt)
    torch.testing.assert_close(res.rotation, torch.eye(3, dtype=torch.float64).expand(4, 3, 3))
    noisy = gt + 0.1 * torch.randn(4, 21, 3, generator=gen, dtype=torch.float64)
    res = scale_translation_align(pred, noisy)
    best = (res.aligned - noisy).pow(2).sum()
    for ds in (-1e-3, 1e-3):  # perturbing the optimum can only increase the squared error
        worse = apply_similarity(pred, res.scale + ds, res.rotation, res.translation)
        assert (worse - noisy).pow(2).sum() > best
    assert float(scale_translation_align(pred[:1], -pred[:1]).scale) == 0.0  # no point reflection


def test_root_bone_scale_align_hand_computed():
    pred = torch.zeros(1, 21, 3, dtype=torch.float64)
    gt = torch.zeros(1, 21, 3, dtype=torch.float64)
    pred[0, 9] = torch.tensor([0.0, 0.02, 0.0])  # predicted wrist -> middle MCP: 2 cm
    gt[0, 9] = torch.tensor([0.04, 0.0, 0.0])  # ground truth: 4 cm
    pred += torch.tensor([0.1, 0.0, 0.0], dtype=torch.float64)
    gt += torch.tensor([0.0, 0.0, 0.5], dtype=torch.float64)
    res = root_bone_scale_align(pred, gt)
    torch.testing.assert_close(res.scale, torch.tensor([2.0], dtype=torch.float64))
    torch.testing.assert_close(res.aligned[0, 0], gt[0, 0])
    torch.testing.assert_close(res.aligned[0, 9], torch.tensor([0.0, 0.04, 0.5], dtype=torch.float64))


def test_translation_align_root_and_centroid():
    pred = torch.tensor([[[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]]])
    gt = torch.tensor([[[1.0, 1.0, 0.0], [3.0, 1.0, 0.0]]])
    torch.testing.assert_close(translation_align(pred, gt, root_index=0).translation, torch.tensor([[1.0, 1.0, 0.0]]))
    torch.testing.assert_close(translation_align(pred, gt).translation, torch.tensor([[1.5, 1.0, 0.0]]))
    w = torch.tensor([[0.0, 1.0]])
    torch.testing.assert_close(translation_align(pred, gt, w).translation, torch.tensor([[2.0, 1.0, 0.0]]))


def test_similarity_gradients_are_finite():
    gen = torch.Generator().manual_seed(10)
    pred = torch.randn(3, 21, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    gt = torch.randn(3, 21, 3, generator=gen, dtype=torch.float64)
    res = similarity_procrustes(pred, gt)
    ((res.aligned - gt).pow(2).sum() + res.scale.sum()).backward()
    assert torch.isfinite(pred.grad).all() and pred.grad.abs().sum() > 0


def test_shape_mismatch_is_rejected():
    with pytest.raises(ValueError, match="same shape"):
        similarity_procrustes(torch.zeros(1, 5, 3), torch.zeros(1, 6, 3))
    with pytest.raises(ValueError, match="weights"):
        similarity_procrustes(torch.zeros(1, 5, 3), torch.zeros(1, 5, 3), torch.ones(1, 4))


def test_default_reference_bone_is_the_wrist_to_middle_mcp():
    """geometry cannot import the keypoint tables, so its default bone is a number that hand/ must agree with."""
    from handrecon.geometry.procrustes import DEFAULT_REF_BONE
    from handrecon.hand.keypoints import WRIST_TO_MIDDLE_MCP

    assert DEFAULT_REF_BONE == WRIST_TO_MIDDLE_MCP
