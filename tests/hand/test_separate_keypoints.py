"""Keypoints apart from the skinning joints (HandAsset.kp_regressor): each keypoint rides on its joint's bone,
follows shape, survives save/load and mirroring; without one the keypoints are the joints."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from handrecon.hand import HandModel
from handrecon.hand.asset import OPENHAND_ENV, load_asset_npz, load_openhand, mirror_asset, save_asset_npz
from handrecon.hand.mirror import mirror_hand_params, mirror_points

from .conftest import random_params

INDEX_MCP, INDEX_PIP = 1, 2  # MANO-16


@pytest.fixture(scope="module")
def asset():
    """The bundled asset with its index MCP keypoint moved halfway to the index PIP (a vertex mix, so it
    follows shape)."""
    a = load_openhand()
    kp = a.j_regressor.copy()
    kp[INDEX_MCP] = 0.5 * (a.j_regressor[INDEX_MCP] + a.j_regressor[INDEX_PIP])
    return replace(a, kp_regressor=kp)


@pytest.fixture(scope="module")
def model(asset):
    return HandModel(asset=asset, dtype=torch.float64)


def test_without_a_keypoint_regressor_keypoints_are_the_joints(right64):
    assert not right64.separate_keypoints
    out = right64(**random_params(2, seed=3, dtype=torch.float64), joint_order="mano")
    torch.testing.assert_close(out.joints[:, :16], out.joint_transforms[:, :, :3, 3], atol=1e-12, rtol=0)
    torch.testing.assert_close(right64.keypoint_template, right64.j_template)


def test_an_equal_keypoint_regressor_changes_nothing(right64):
    same = HandModel(asset=replace(right64.asset, kp_regressor=right64.asset.j_regressor), dtype=torch.float64)
    p = random_params(3, seed=5, dtype=torch.float64)
    scales = torch.exp(0.2 * torch.randn(3, 16, generator=torch.Generator().manual_seed(0), dtype=torch.float64))
    a, b = right64(**p, bone_scales=scales), same(**p, bone_scales=scales)
    torch.testing.assert_close(a.joints, b.joints, atol=1e-12, rtol=0)
    torch.testing.assert_close(a.vertices, b.vertices, atol=1e-12, rtol=0)


def test_keypoint_rides_rigidly_on_its_joints_bone(model):
    p = random_params(4, seed=7, dtype=torch.float64)
    out = model(**p, joint_order="mano")
    rest = model(betas=p["betas"], joint_order="mano")
    # Other keypoints stay on their joints; the moved one keeps its offset in the bone's frame.
    others = [k for k in range(16) if k != INDEX_MCP]
    torch.testing.assert_close(out.joints[:, others], out.joint_transforms[:, others, :3, 3], atol=1e-12, rtol=0)
    T = out.joint_transforms[:, INDEX_MCP]
    offset_rest = rest.joints[:, INDEX_MCP] - rest.rest_joints[:, INDEX_MCP]
    expect = (T[:, :3, :3] @ offset_rest[..., None])[..., 0] + T[:, :3, 3]
    torch.testing.assert_close(out.joints[:, INDEX_MCP], expect, atol=1e-12, rtol=0)
    # Halfway between the joint and the PIP at rest, it stays halfway along the posed proximal phalanx.
    mid = 0.5 * (out.joint_transforms[:, INDEX_MCP, :3, 3] + out.joint_transforms[:, INDEX_PIP, :3, 3])
    torch.testing.assert_close(out.joints[:, INDEX_MCP], mid, atol=1e-9, rtol=0)


def test_bone_scale_stretches_the_keypoint_with_its_segment(model):
    p = random_params(2, seed=2, dtype=torch.float64)
    scales = torch.ones(2, 16, dtype=torch.float64)
    scales[:, INDEX_MCP] = 1.4
    out = model(**p, bone_scales=scales, joint_order="mano")
    mid = 0.5 * (out.joint_transforms[:, INDEX_MCP, :3, 3] + out.joint_transforms[:, INDEX_PIP, :3, 3])
    torch.testing.assert_close(out.joints[:, INDEX_MCP], mid, atol=1e-9, rtol=0)


def test_keypoints_follow_shape(model):
    b = torch.zeros(2, 10, dtype=torch.float64)
    b[1, 0] = 2.0
    kp = model.rest_keypoints(b, 2)
    assert (kp[1] - kp[0]).norm(dim=-1)[INDEX_MCP] > 1e-3  # a bigger hand moves the keypoint too
    out = model(betas=b, joint_order="mano")
    torch.testing.assert_close(out.joints[:, :16], kp, atol=1e-12, rtol=0)


def test_joints_only_forward_matches_full_forward(model):
    p = random_params(2, seed=9, dtype=torch.float64)
    full, fast = model(**p), model(**p, skin_mesh=False)
    torch.testing.assert_close(full.joints, fast.joints, atol=1e-12, rtol=0)


def test_left_keypoints_mirror_the_right(asset):
    right = HandModel(asset=asset, dtype=torch.float64)
    left = HandModel(asset=mirror_asset(asset), dtype=torch.float64)
    assert left.separate_keypoints
    p = random_params(2, seed=4, dtype=torch.float64)
    go, hp, tr = mirror_hand_params(p["global_orient"], p["hand_pose"], p["transl"])
    mirrored = left(global_orient=go, hand_pose=hp, betas=p["betas"], transl=tr).joints
    torch.testing.assert_close(mirrored, mirror_points(right(**p).joints), atol=1e-9, rtol=0)


def test_save_load_and_environment_override(asset, tmp_path, monkeypatch):
    path = tmp_path / "hand.npz"
    save_asset_npz(asset, path)
    np.testing.assert_allclose(load_asset_npz(path).kp_regressor, asset.kp_regressor)
    monkeypatch.setenv(OPENHAND_ENV, str(path))
    assert HandModel(side="left").separate_keypoints
    monkeypatch.setenv(OPENHAND_ENV, str(tmp_path / "missing.npz"))
    with pytest.raises(FileNotFoundError, match="missing.npz"):
        load_openhand()


def test_wrong_keypoint_regressor_shape_is_named(asset):
    with pytest.raises(ValueError, match="kp_regressor"):
        replace(asset, kp_regressor=np.zeros((16, 3))).validate()
