import math

import pytest
import torch

from handrecon.priors import interaction as it


def test_heatmap_peaks_at_joint_pixel_with_laplacian_normalisation():
    joints = torch.tensor([[[3.0, 5.0], [30.0, 20.0]]])
    h = it.interaction_adjacency_heatmaps(joints, 32, 40)
    assert h.shape == (1, 2, 32, 40)
    for j, (u, v) in enumerate([(3, 5), (30, 20)]):
        flat = int(h[0, j].argmax())
        assert divmod(flat, 40) == (v, u)  # (row, column)
        assert h[0, j, v, u].item() == pytest.approx(1.0 / (2 * it.IAH_SIGMA))
    # Laplacian falloff: one pixel away in u and one in v -> exp(-2 / sigma)
    assert h[0, 0, 6, 4].item() == pytest.approx(0.25 * math.exp(-1.0))


def test_non_adjacent_joints_contribute_nothing():
    joints = torch.tensor([[[10.0, 10.0], [20.0, 10.0]]])
    h = it.interaction_adjacency_heatmaps(joints, 24, 32)
    alone = it.interaction_adjacency_heatmaps(joints[:, :1], 24, 32)
    assert torch.equal(h[:, :1], alone)  # identical to the map without the far joint
    assert not it.adjacency(joints).any()


def test_adjacent_joint_adds_wide_kernel():
    joints = torch.tensor([[[10.0, 10.0], [11.0, 11.0]]])  # within the 2.5 x 2.5 window
    h = it.interaction_adjacency_heatmaps(joints, 24, 24)
    # at joint 1's pixel: identity tail of joint 0 + peak of the adjacent kernel 1 / (2 alpha sigma)
    assert h[0, 0, 11, 11].item() == pytest.approx(0.25 * math.exp(-1.0) + 0.125)
    assert h[0, 1, 10, 10].item() == pytest.approx(0.25 * math.exp(-1.0) + 0.125)


def test_adjacency_window_boundary_symmetry_and_validity():
    joints = torch.tensor([[[0.0, 0.0], [1.25, -1.25], [1.3, 0.0], [0.0, 0.5]]])
    adj = it.adjacency(joints)
    assert adj[0, 0, 1] and adj[0, 0, 3] and not adj[0, 0, 2]
    assert torch.equal(adj, adj.transpose(1, 2)) and not adj.diagonal(dim1=1, dim2=2).any()
    valid = torch.tensor([[1.0, 0.0, 1.0, 1.0]])
    assert not it.adjacency(joints, valid=valid)[0, 0, 1]
    h = it.interaction_adjacency_heatmaps(joints + 5, 12, 12, valid=valid)
    assert h[0, 1].abs().sum() == 0
    assert it.adjacency(joints, size=10.0)[0].sum() == 12  # every pair in a large window


def test_feature_2d_loss_weights():
    hm = torch.rand(2, 42, 8, 8)
    sal = torch.rand(2, 2, 8, 8)
    tau = torch.rand(2, 3)
    assert it.feature_2d_loss(hm, hm, sal, sal, tau, tau).item() == 0.0
    tau2 = tau.clone()
    tau2[:, 0] += 0.01
    sal2 = sal.clone()
    sal2[:, 0, 0, 0] += 0.5
    got = it.feature_2d_loss(hm, hm, sal2, sal, tau2, tau)
    assert got.item() == pytest.approx(1.0 * 0.25 + 2000 * 1e-4, rel=1e-4)
    hm2 = hm.clone().requires_grad_(True)
    with torch.no_grad():
        hm2[0, 5, 1, 1] += 0.2
    it.feature_2d_loss(hm2, hm, sal, sal, tau, tau).backward()
    assert hm2.grad[0, 5, 1, 1] > 0


def test_vae_prior_loss_hand_value():
    x = torch.zeros(2, 10)
    mu, var = torch.zeros(2, 128), torch.ones(2, 128)
    assert it.vae_prior_loss(x, x, mu, var).item() == 0.0
    mu1 = mu.clone()
    mu1[:, 0] = 1.0  # KL = 0.5 * 1^2
    xh = x.clone()
    xh[:, 0] = 0.1  # MSE = 0.01 / 10
    assert it.vae_prior_loss(xh, x, mu1, var).item() == pytest.approx(0.5 + 100 * 0.001)
    assert it.vae_prior_loss(xh, x, mu1, var, reconstruction_reduction="sum").item() == pytest.approx(0.5 + 1.0)


def test_normal_consistency_hand_value_and_invariances():
    faces = torch.tensor([[0, 1, 2]])
    gt = torch.tensor([[[0.0, 0, 0], [1, 0, 0], [0, 1, 0]]], dtype=torch.float64)
    assert it.normal_consistency_loss(gt, gt, faces).item() == 0.0
    assert it.normal_consistency_loss(3 * gt + 1, gt, faces).item() == pytest.approx(0.0, abs=1e-12)
    pred = gt.clone()
    pred[0, 2, 2] = 1.0  # lift v2: edges (1,0,0), (-1,1,1)/sqrt3, (0,-1,-1)/sqrt2 against normal z
    expected = (0.0 + 1 / math.sqrt(3) + 1 / math.sqrt(2)) / 3
    assert it.normal_consistency_loss(pred, gt, faces).item() == pytest.approx(expected)
    pred.requires_grad_(True)
    it.normal_consistency_loss(pred, gt, faces).backward()
    assert pred.grad[0, 2, 2] > 0  # lowering v2 back into the plane reduces the loss
