"""Named loss terms: zero at the labels, positive and pulling the right way away from them."""

from __future__ import annotations

import torch

from handrecon.geometry.camera import project_points
from handrecon.geometry.rotations import axis_angle_to_matrix
from handrecon.nn.prediction import HandPrediction
from handrecon.train.losses import LOSS_TERMS, compute_losses


def _batch_and_pred(B: int = 3):
    g = torch.Generator().manual_seed(0)
    go, hp = 0.3 * torch.randn(B, 3, generator=g), 0.3 * torch.randn(B, 15, 3, generator=g)
    joints = 0.05 * torch.randn(B, 21, 3, generator=g) + torch.tensor([0.0, 0.0, 0.5])
    K = torch.tensor([[200.0, 0, 32], [0, 200, 32], [0, 0, 1]]).expand(B, 3, 3)
    kp = project_points(joints, K)
    batch = {
        "global_orient": go[:, None], "hand_pose": hp[:, None], "betas": torch.randn(B, 1, 10, generator=g),
        "has_pose": torch.ones(B, 1, dtype=torch.bool), "has_betas": torch.ones(B, 1, dtype=torch.bool),
        "joints_3d": joints[:, None], "joints_3d_valid": torch.ones(B, 1, 21, dtype=torch.bool),
        "keypoints_2d": torch.cat([kp, torch.ones(B, 21, 1)], -1)[:, None],
        "has_keypoints_2d": torch.ones(B, 1, dtype=torch.bool),
    }  # fmt: skip
    pred = HandPrediction(
        global_orient=axis_angle_to_matrix(go), hand_pose=axis_angle_to_matrix(hp), betas=batch["betas"][:, 0].clone(),
        camera=torch.zeros(B, 3), transl=torch.zeros(B, 3), vertices=torch.zeros(B, 5, 3), joints=joints.clone(),
        keypoints_2d=kp.clone(),
    )  # fmt: skip
    return batch, pred


def test_every_term_is_zero_at_the_labels():
    batch, pred = _batch_and_pred()
    from handrecon.train.paper_losses import PAPER_TERMS  # tested in test_paper_losses.py

    for name, term in LOSS_TERMS.items():
        if name in ("shape_prior", "joint_variance_nll") or name in PAPER_TERMS:  # NLL: test_variance_losses.py
            continue
        assert term(pred, batch, crop_size=64).abs().item() < 1e-10, name


def test_terms_grow_away_from_the_labels_and_gradients_point_back():
    batch, pred = _batch_and_pred()
    pred.joints = (pred.joints + torch.tensor([0.01, 0.0, 0.0])).requires_grad_()
    loss = LOSS_TERMS["keypoints_3d"](pred, batch)
    loss.backward()
    # A shared offset vanishes root-relative: only a joint moved relative to the root is penalised.
    assert loss.item() < 1e-12 and pred.joints.grad.abs().max() < 1e-8
    batch, pred = _batch_and_pred()
    pred.joints = pred.joints.clone()
    pred.joints[:, 5, 0] += 0.01
    pred.joints.requires_grad_()
    LOSS_TERMS["keypoints_3d"](pred, batch).backward()
    assert (pred.joints.grad[:, 5, 0] > 0).all()
    batch, pred = _batch_and_pred()
    pred.keypoints_2d = (pred.keypoints_2d + 3.0).requires_grad_()
    k2 = LOSS_TERMS["keypoints_2d"](pred, batch, crop_size=64)
    assert torch.isclose(k2, torch.tensor((3.0 / 64) ** 2))  # mean squared error in crop units
    k2.backward()
    assert (pred.keypoints_2d.grad > 0).all()


def test_weighted_total_and_unknown_names():
    batch, pred = _batch_and_pred()
    pred.betas = pred.betas + 1.0
    total, terms = compute_losses(pred, batch, {"shape": 2.0, "pose": 1.0, "keypoints_3d": 0.0})
    assert set(terms) == {"shape", "pose"}
    assert torch.isclose(total, 2.0 * torch.tensor(1.0))
    try:
        compute_losses(pred, batch, {"shaep": 1.0})
    except ValueError as e:
        assert "shaep" in str(e)
    else:
        raise AssertionError("an unknown loss name must be an error")
