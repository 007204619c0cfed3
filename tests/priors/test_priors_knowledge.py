import math

import pytest
import torch

from handrecon.priors.knowledge import KnowledgePriorWeights, mse_data_term, nll_data_term, shape_regularizer


def test_default_weights_of_sec_4_1():
    w = KnowledgePriorWeights()
    assert (w.pose, w.non_penetration, w.shape) == (20000.0, 20000.0, 10.0)


def test_nll_data_term_hand_value():
    # one joint, error (3, 4): ||e||^2 = 25; sigma^2 = 25 -> log 5 + 25 / 50
    target = torch.tensor([[[3.0, 4.0]]])
    got = nll_data_term(torch.zeros(1, 1, 2), target, torch.tensor([[25.0]]))
    assert got.item() == pytest.approx(math.log(5.0) + 0.5, rel=1e-6)


def test_nll_data_term_sums_joints_and_averages_batch():
    target = torch.zeros(2, 3, 2)
    var = torch.tensor([[1.0, 4.0, 9.0], [1.0, 1.0, 1.0]])
    per_sample = nll_data_term(target.clone(), target, var, reduction="none")
    assert torch.allclose(per_sample, torch.tensor([math.log(6.0), 0.0]))  # log 1 + log 2 + log 3
    assert nll_data_term(target.clone(), target, var).item() == pytest.approx(math.log(6.0) / 2)


def test_nll_data_term_optimal_variance_is_squared_error():
    target, mean = torch.tensor([[[3.0, 4.0]]]), torch.zeros(1, 1, 2)
    var = torch.tensor([[25.0]], requires_grad=True)
    nll_data_term(mean, target, var).backward()
    assert var.grad.item() == pytest.approx(0.0, abs=1e-7)


def test_nll_gradient_sign_and_confidence_weighting():
    target = torch.zeros(1, 2, 2)
    mean = torch.tensor([[[1.0, 0.0], [50.0, 0.0]]], requires_grad=True)
    nll_data_term(mean, target, torch.ones(1, 2), valid=torch.tensor([[1.0, 0.0]])).backward()
    assert mean.grad[0, 0, 0] > 0  # prediction above target: positive gradient
    assert torch.equal(mean.grad[0, 1], torch.zeros(2))  # unlabelled joint: no contribution


def test_mse_is_unit_variance_nll():
    g = torch.Generator().manual_seed(1)
    target, mean = torch.randn(3, 21, 2, generator=g), torch.randn(3, 21, 2, generator=g)
    assert torch.allclose(mse_data_term(mean, target), nll_data_term(mean, target, torch.ones(3, 21)))
    assert mse_data_term(target, target).item() == 0.0
    assert mse_data_term(torch.tensor([[[1.0, 2.0]]]), torch.zeros(1, 1, 2)).item() == pytest.approx(2.5)


def test_shape_regularizer_is_l2_norm():
    betas = torch.tensor([[3.0, 4.0] + [0.0] * 8], requires_grad=True)
    out = shape_regularizer(betas)
    assert out.item() == pytest.approx(5.0)
    out.backward()
    assert betas.grad[0, 0] > 0 and betas.grad[0, 1] > 0
    zero = torch.zeros(2, 10, dtype=torch.float64, requires_grad=True)
    z = shape_regularizer(zero)
    z.backward()
    assert z.item() == 0.0 and torch.isfinite(zero.grad).all()
    assert shape_regularizer(betas.detach(), mean_shape=betas.detach()[0]).item() == 0.0
