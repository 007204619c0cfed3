"""The papers' loss terms by name (knowledge prior, eq. 1-7; WildHands' grasp), the data-term schedule,
the 3D-supervised fraction and the `mixed` training dataset."""

from __future__ import annotations

import math

import pytest
import torch

from handrecon.hand.model import HandModel
from handrecon.nn.knowledge_regressor import KnowledgePrediction
from handrecon.nn.wildhands import WildHandsPrediction
from handrecon.train.config import DatasetConfig, load_recipe, to_container
from handrecon.train.data import open_dataset
from handrecon.train.losses import LOSS_TERMS
from handrecon.train.module import HandReconModule

HM = HandModel(side="right")


def _pred(hand_pose=None, kp=None, var=None, grasp=None, cls=KnowledgePrediction, **extra):
    B = 2
    hp = torch.eye(3).expand(B, 15, 3, 3).clone() if hand_pose is None else hand_pose
    out = HM(global_orient=torch.eye(3).expand(B, 3, 3), hand_pose=hp, betas=torch.zeros(B, 10),
             transl=torch.tensor([0.0, 0.0, 0.5]).expand(B, 3))
    fields = dict(global_orient=torch.eye(3).expand(B, 3, 3), hand_pose=hp, betas=torch.zeros(B, 10),
                  camera=torch.zeros(B, 3), transl=torch.zeros(B, 3), vertices=out.vertices, joints=out.joints,
                  keypoints_2d=torch.zeros(B, 21, 2) if kp is None else kp)
    if cls is KnowledgePrediction:
        return cls(**fields, keypoints_2d_variance=var, **extra)
    return cls(**fields, grasp_logits=grasp)


def _batch(kp2d):
    B = kp2d.shape[0]
    kp = torch.cat([kp2d, torch.ones(B, 21, 1)], -1)[:, None]
    return {"keypoints_2d": kp, "has_keypoints_2d": torch.ones(B, 1, dtype=torch.bool)}


def test_pose_limit_terms_zero_at_rest_and_positive_when_bent_backwards():
    ctx = {"hand_model": HM}
    rest = _pred()
    at_rest = LOSS_TERMS["pose_limits"](rest, {}, **ctx).item()
    assert at_rest < 0.01  # the open hand's rest pose: at most a few degrees outside a range
    assert LOSS_TERMS["pose_limits_functional"](rest, {}, **ctx).item() < 0.01
    from handrecon.hand.anatomy import Anatomy

    an = Anatomy.from_hand_model(HM)
    angles = an.rest_angles().expand(2, 15, 3).clone()
    angles[:, 1, 0] = -1.5  # a PIP hyper-extended by 86 degrees: far outside its range
    R = an.euler_to_rotations(angles).requires_grad_()
    loss = LOSS_TERMS["pose_limits"](_pred(hand_pose=R), {}, **ctx)
    assert loss.item() > 1.0 + at_rest  # (1.5 rad beyond a bound of about 0)^2
    loss.backward()
    assert R.grad.abs().sum() > 0


def test_non_penetration_zero_for_the_rest_hand():
    assert LOSS_TERMS["non_penetration"](_pred(), {}, hand_model=HM).item() == 0.0


def test_2d_data_terms_known_values_and_the_nll_weighting():
    target = torch.zeros(2, 21, 2)
    kp = torch.zeros(2, 21, 2)
    kp[:, 0, 0] = 6.4  # 0.1 crop units at crop 64
    b = _batch(target)
    mse = LOSS_TERMS["keypoints_2d_mse"](_pred(kp=kp), b, crop_size=64)
    assert math.isclose(mse.item(), 0.5 * 0.01, rel_tol=1e-5)
    var = torch.full((2, 21), 0.01)
    nll = LOSS_TERMS["keypoints_2d_nll"](_pred(kp=kp, var=var), b, crop_size=64)
    want = 21 * 0.5 * math.log(0.01) + 0.01 / (2 * 0.01)
    assert math.isclose(nll.item(), want, rel_tol=1e-5)
    # a larger variance on the erring joint lowers its residual's weight (the gradient on its mean)
    kp1 = kp.clone().requires_grad_()
    LOSS_TERMS["keypoints_2d_nll"](_pred(kp=kp1, var=var), b, crop_size=64).backward()
    var2 = var.clone()
    var2[:, 0] = 0.1
    kp2 = kp.clone().requires_grad_()
    LOSS_TERMS["keypoints_2d_nll"](_pred(kp=kp2, var=var2), b, crop_size=64).backward()
    assert 0 < kp2.grad[0, 0, 0] < kp1.grad[0, 0, 0]


def test_grasp_term_cross_entropy():
    logits = torch.zeros(2, 8, requires_grad=True)
    pred = _pred(cls=WildHandsPrediction, grasp=logits)
    batch = {"grasp": torch.tensor([1, 3]), "has_grasp": torch.tensor([True, True])}
    loss = LOSS_TERMS["grasp"](pred, batch)
    assert math.isclose(loss.item(), math.log(8), rel_tol=1e-6)
    loss.backward()
    assert logits.grad[0, 1] < 0 and logits.grad[0, 0] > 0
    assert LOSS_TERMS["grasp"](pred, {}).item() == 0.0  # no labels in the batch


def test_mse_then_nll_schedule_and_3d_fraction():
    cfg = load_recipe("knowledge-prior-cpu-small", ["model.backbone=resnet18", "model.use_landmarks=false",
                                                   "model.crop_size=64", "loss.supervised_3d_fraction=0.5"])
    m = HandReconModule(to_container(cfg))
    w = m.active_weights()  # no trainer: epoch 0
    assert w["keypoints_2d_mse"] > 0 and w["keypoints_2d_nll"] == 0
    m.cfg.loss.stop_epoch.keypoints_2d_mse = 0
    m.cfg.loss.start_epoch.keypoints_2d_nll = 0
    w = m.active_weights()
    assert w["keypoints_2d_mse"] == 0 and w["keypoints_2d_nll"] > 0
    n = 200
    batch = {"index": torch.arange(n), "joints_3d_valid": torch.ones(n, 1, 21, dtype=torch.bool),
             "has_pose": torch.ones(n, 1, dtype=torch.bool)}
    kept = m._with_3d_fraction(batch)["joints_3d_valid"][:, 0, 0].float().mean().item()
    assert 0.35 < kept < 0.65


def test_mixed_dataset_draws_from_every_set(tmp_path):
    pytest.importorskip("handrecon.synth")
    from handrecon.train import mixing  # noqa: F401

    cfg = DatasetConfig(name="mixed", opts={"length": 6, "weights": [1, 1], "sets": [
        {"name": "synthetic", "split": "train", "length": 3, "opts": {"size": 64}},
        {"name": "synthetic", "split": "val", "length": 3, "start": 1000, "opts": {"size": 64}}]})
    ds = open_dataset(cfg)
    assert len(ds) == 6
    assert {ds.source_of(i)[0] for i in range(6)} <= {0, 1}
    assert ds[0].hands
