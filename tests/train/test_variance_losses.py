"""`joint_variance_nll`: the Gaussian NLL of the root-relative joint errors under the predicted variance."""

from __future__ import annotations

import math

import torch

from handrecon.nn.prediction import HandPrediction
from handrecon.train import variance_losses  # noqa: F401 - registers the term
from handrecon.train.losses import LOSS_TERMS


def _case(var: float, offset: float = 0.01):
    gt = torch.randn(2, 21, 3, generator=torch.Generator().manual_seed(0)) * 0.03
    joints = gt.clone()
    joints[:, 7, 0] += offset  # one joint off by `offset` metres along x, root-relative
    variance = torch.full((2, 21), var, requires_grad=True)
    pred = HandPrediction(global_orient=torch.eye(3).expand(2, 3, 3), hand_pose=torch.eye(3).expand(2, 15, 3, 3),
                          betas=torch.zeros(2, 10), camera=torch.zeros(2, 3), transl=torch.zeros(2, 3),
                          vertices=None, joints=joints.requires_grad_(), keypoints_2d=torch.zeros(2, 21, 2),
                          joint_variance=variance)
    batch = {"joints_3d": gt[:, None], "joints_3d_valid": torch.ones(2, 1, 21, dtype=torch.bool)}
    return pred, batch, variance


def test_known_value():
    var, off = 1e-4, 0.01
    pred, batch, _ = _case(var, off)
    value = LOSS_TERMS["joint_variance_nll"](pred, batch)
    const = 0.5 * (math.log(var) + math.log(2 * math.pi))
    expected = const + 0.5 * off**2 / var / (21 * 3)  # one coordinate of one of 21 joints is off
    assert abs(value.item() - expected) < 1e-5


def test_gradient_signs_move_the_variance_towards_the_error_and_not_the_joints():
    pred, batch, variance = _case(1e-6, 0.01)  # variance far below the squared error: raise it
    LOSS_TERMS["joint_variance_nll"](pred, batch).backward()
    assert variance.grad[:, 7].lt(0).all() and variance.grad[:, 3].gt(0).all()  # error-free joints: lower it
    assert pred.joints.grad is None  # the error is taken as given
    pred, batch, variance = _case(1.0, 0.01)  # far above: lower it
    LOSS_TERMS["joint_variance_nll"](pred, batch).backward()
    assert variance.grad.gt(0).all()
