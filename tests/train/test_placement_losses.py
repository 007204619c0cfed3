"""The `root_position` term: known values and the direction of its gradient."""

from __future__ import annotations

import math

import torch

from handrecon.nn.prediction import HandPrediction
from handrecon.train import placement_losses  # noqa: F401 - registers the term
from handrecon.train.losses import LOSS_TERMS


def _case(pred_root, gt_root):
    joints = torch.zeros(1, 21, 3, dtype=torch.float64)
    joints[:, :] = torch.tensor(pred_root, dtype=torch.float64)
    joints.requires_grad_(True)
    gt = torch.zeros(1, 1, 21, 3, dtype=torch.float64)
    gt[..., :] = torch.tensor(gt_root, dtype=torch.float64)
    batch = {"joints_3d": gt, "joints_3d_valid": torch.ones(1, 1, 21, dtype=torch.bool)}
    pred = HandPrediction(global_orient=None, hand_pose=None, betas=None, camera=None, transl=None,
                          vertices=None, joints=joints, keypoints_2d=None)
    return pred, batch, joints


def test_known_values():
    pred, batch, _ = _case([0.02, 0.01, 0.55], [0.02, 0.01, 0.5])  # 10 % too far, x/z and y/z off a little
    d = (0.02 / 0.55 - 0.02 / 0.5) ** 2 + (0.01 / 0.55 - 0.01 / 0.5) ** 2
    assert math.isclose(float(LOSS_TERMS["root_position"](pred, batch)), math.log(1.1) ** 2 + d, rel_tol=1e-9)
    pred, batch, _ = _case([0.0, 0.0, 0.5], [0.0, 0.0, 0.5])
    assert float(LOSS_TERMS["root_position"](pred, batch)) == 0.0
    # the same relative depth error costs the same near and far
    near = LOSS_TERMS["root_position"](*_case([0, 0, 0.11], [0, 0, 0.1])[:2])
    far = LOSS_TERMS["root_position"](*_case([0, 0, 1.1], [0, 0, 1.0])[:2])
    assert torch.isclose(near, far)


def test_gradient_pulls_the_wrist_towards_the_label():
    pred, batch, joints = _case([0.03, 0.0, 0.6], [0.0, 0.0, 0.5])
    LOSS_TERMS["root_position"](pred, batch).backward()
    g = joints.grad[0, 0]
    assert g[2] > 0 and g[0] > 0  # descending moves the wrist nearer and towards x = 0
    assert joints.grad[0, 1:].abs().sum() == 0  # only the wrist is read
