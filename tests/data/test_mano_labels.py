"""Raw MANO labels in the datasets' conventions -> handrecon's: with a generated MANO-structured model, the
converted parameters pose the same hand, in the camera frame, as the dataset's own convention does."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from handrecon.data.mano_labels import MANOConverter, RawMANO
from handrecon.hand import HandModel
from handrecon.hand.asset import load_openhand

PARENTS = np.array([-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 0, 10, 11, 0, 13, 14])


@pytest.fixture(scope="module")
def mano_dir(tmp_path_factory):
    """MANO_RIGHT.pkl / MANO_LEFT.pkl with MANO's keys (the openhand mesh, random pose components and mean)."""
    d = tmp_path_factory.mktemp("mano")
    rng = np.random.default_rng(0)
    for side in ("right", "left"):
        base = load_openhand(side)
        kintree = np.stack([PARENTS, np.arange(16)]).astype(np.int64)
        data = dict(
            v_template=base.v_template, f=base.faces.astype(np.uint32), weights=base.weights,
            J_regressor=base.j_regressor, kintree_table=kintree, shapedirs=base.shapedirs,
            posedirs=rng.standard_normal((base.num_vertices, 3, 135)) * 1e-3,
            hands_components=np.linalg.qr(rng.standard_normal((45, 45)))[0], hands_mean=rng.standard_normal(45) * 0.2,
        )  # fmt: skip
        (d / f"MANO_{side.upper()}.pkl").write_bytes(pickle.dumps(data, protocol=2))
    return d


def _t(x):
    return torch.as_tensor(np.asarray(x, dtype=np.float64)[None])


def _raw(side, space, frame="camera", R=None, t=None, n=45, seed=1):
    rng = np.random.default_rng(seed)
    return RawMANO(side, rng.normal(size=3) * 0.5, rng.normal(size=n) * 0.3, rng.normal(size=10) * 0.5,
                   [0.02, -0.01, 0.4], space, frame, np.eye(3) if R is None else R,
                   np.zeros(3) if t is None else t)  # fmt: skip


def test_without_mano_only_camera_relative_labels_convert():
    conv = MANOConverter(None)
    assert conv.can_convert(_raw("right", "relative"))
    assert not conv.can_convert(_raw("right", "absolute"))
    assert not conv.can_convert(_raw("right", "pca"))
    assert not conv.can_convert(_raw("right", "relative", "world", np.diag([1.0, -1, -1])))
    p = conv.convert(_raw("right", "relative", t=np.array([0.0, 0.0, 0.1])))
    assert p["transl"][2] == pytest.approx(0.5)  # a pure translation of the frame needs no MANO data


def test_absolute_pose_in_opengl_frame(mano_dir):  # HO3D
    conv = MANOConverter(mano_dir)
    flip = np.diag([1.0, -1.0, -1.0])
    raw = _raw("right", "absolute", "camera_opengl", flip)
    flat = HandModel("right", "mano", mano_dir, flat_hand_mean=True, dtype=torch.float64)
    with torch.no_grad():
        J_gl = flat(_t(raw.global_orient), _t(raw.hand_pose.reshape(15, 3)), _t(raw.betas), _t(raw.transl),
                    skin_mesh=False).joints[0].numpy()  # fmt: skip
    np.testing.assert_allclose(conv.joints(raw), J_gl @ flip.T, atol=1e-9)


def test_pca_coefficients(mano_dir):  # DexYCB
    conv = MANOConverter(mano_dir)
    raw = _raw("left", "pca")
    pca = HandModel("left", "mano", mano_dir, use_pca=True, num_pca_comps=45, dtype=torch.float64)
    with torch.no_grad():
        J = pca(_t(raw.global_orient), _t(raw.hand_pose), _t(raw.betas), _t(raw.transl), skin_mesh=False).joints[0]
    np.testing.assert_allclose(conv.joints(raw), J.numpy(), atol=1e-9)


def test_world_frame_with_camera_extrinsics(mano_dir):  # InterHand2.6M, ARCTIC
    conv = MANOConverter(mano_dir)
    q = np.linalg.qr(np.random.default_rng(4).normal(size=(3, 3)))[0]
    R, t = q * np.sign(np.linalg.det(q)), np.array([0.1, -0.2, 0.9])
    raw = _raw("right", "relative", "world", R, t)
    m = HandModel("right", "mano", mano_dir, dtype=torch.float64)
    with torch.no_grad():
        J_w = m(_t(raw.global_orient), _t(raw.hand_pose.reshape(15, 3)), _t(raw.betas), _t(raw.transl),
                skin_mesh=False).joints[0].numpy()  # fmt: skip
    np.testing.assert_allclose(conv.joints(raw), J_w @ R.T + t, atol=1e-9)


def test_reader_fills_parameters_with_mano_files(mano_dir, tmp_path):
    from handrecon.data.ho3d import HO3DDataset

    from . import official_fixtures as fx

    fx.write_ho3d(tmp_path)
    h = HO3DDataset(tmp_path, "train", mano_dir=mano_dir)[0].hands[0]
    assert h.hand_model == "mano" and h.hand_pose.shape == (15, 3) and h.transl is not None
    assert HO3DDataset(tmp_path, "train")[0].hands[0].hand_model is None
