import math

import pytest
import torch

from handrecon.priors.gaussian import gaussian_nll, kl_diag_gaussians, kl_standard_normal, reparameterize


def test_nll_hand_value():
    # -log N(1; 0, 4) = 0.5 * (1/4 + log 4 + log 2 pi)
    got = gaussian_nll(torch.tensor(0.0), torch.tensor(1.0), torch.tensor(4.0))
    assert got.item() == pytest.approx(0.5 * (0.25 + math.log(4.0) + math.log(2 * math.pi)), rel=1e-6)


def test_nll_at_mean_is_log_normaliser_only():
    var = torch.tensor([0.5, 1.0, 3.0], dtype=torch.float64)
    got = gaussian_nll(torch.ones(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64), var)
    assert torch.allclose(got, 0.5 * torch.log(2 * math.pi * var))


def test_nll_gradient_signs_and_variance_optimum():
    mean = torch.tensor([2.0], requires_grad=True)
    var = torch.tensor([9.0], requires_grad=True)  # = (target - mean)^2: the optimal variance
    gaussian_nll(mean, torch.tensor([5.0]), var).sum().backward()
    assert mean.grad.item() < 0  # mean below target: increasing it lowers the loss
    assert var.grad.item() == pytest.approx(0.0, abs=1e-7)
    small = torch.tensor([1.0], requires_grad=True)
    gaussian_nll(torch.tensor([2.0]), torch.tensor([5.0]), small).sum().backward()
    assert small.grad.item() < 0  # too confident: the loss wants a larger variance


def test_kl_hand_value_and_zero_at_equality():
    # KL(N(1, 2) || N(0, 1)) = 0.5 * (log(1/2) - 1 + (2 + 1) / 1)
    got = kl_diag_gaussians(torch.tensor(1.0), torch.tensor(2.0), torch.tensor(0.0), torch.tensor(1.0))
    assert got.item() == pytest.approx(0.5 * (math.log(0.5) + 2.0), rel=1e-6)
    m, v = torch.randn(5), torch.rand(5) + 0.1
    assert torch.allclose(kl_diag_gaussians(m, v, m, v), torch.zeros(5), atol=1e-6)


def test_kl_matches_torch_distributions():
    g = torch.Generator().manual_seed(0)
    mq, mp = torch.randn(4, 6, generator=g, dtype=torch.float64), torch.randn(4, 6, generator=g, dtype=torch.float64)
    vq = torch.rand(4, 6, generator=g, dtype=torch.float64) + 0.2
    vp = torch.rand(4, 6, generator=g, dtype=torch.float64) + 0.2
    ref = torch.distributions.kl_divergence(
        torch.distributions.Normal(mq, vq.sqrt()), torch.distributions.Normal(mp, vp.sqrt())
    )
    assert torch.allclose(kl_diag_gaussians(mq, vq, mp, vp), ref)
    assert torch.allclose(
        kl_standard_normal(mq, vq), kl_diag_gaussians(mq, vq, torch.zeros_like(mq), torch.ones_like(vq))
    )


def test_reparameterize_reproducible_and_differentiable():
    mean = torch.zeros(3, 4, requires_grad=True)
    var = torch.full((3, 4), 4.0, requires_grad=True)
    a = reparameterize(mean, var, torch.Generator().manual_seed(7))
    b = reparameterize(mean, var, torch.Generator().manual_seed(7))
    c = reparameterize(mean, var, torch.Generator().manual_seed(8))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    a.sum().backward()
    assert torch.allclose(mean.grad, torch.ones(3, 4))
    assert var.grad.abs().sum() > 0


def test_reparameterize_moments_and_sample_dim():
    mean, var = torch.tensor([1.0, -2.0]), torch.tensor([0.25, 4.0])
    s = reparameterize(mean, var, torch.Generator().manual_seed(0), num_samples=20000)
    assert s.shape == (20000, 2)
    assert torch.allclose(s.mean(0), mean, atol=0.05)
    assert torch.allclose(s.var(0), var, rtol=0.05)
