"""MANO path: a generated pkl with MANO's structure (chumpy objects, sparse regressor, Python-2 style)."""

import pickle
import sys
import types

import numpy as np
import pytest
import scipy.sparse
import torch
from scipy.spatial.transform import Rotation

from handrecon.hand import HandModel
from handrecon.hand.asset import load_openhand
from handrecon.hand.mano_io import MANO_TIP_VERTEX_IDS, convert_mano, load_mano, read_mano_pkl
from handrecon.io.errors import InputError, ModelFileError

PARENTS = np.array([-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 0, 10, 11, 0, 13, 14])


def _fake_chumpy():
    """Modules named like chumpy's so that pickled objects carry chumpy class paths."""
    chumpy = types.ModuleType("chumpy")
    ch = types.ModuleType("chumpy.ch")

    class Ch:
        def __init__(self, x):
            self.x = x
            self._dirty_vars = set()
            self._itr = None

    Ch.__module__ = "chumpy.ch"
    Ch.__qualname__ = "Ch"
    ch.Ch = Ch
    chumpy.ch = ch
    return chumpy, ch, Ch


def _make_mano_dict(seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    base = load_openhand("right")  # any 16-joint LBS hand gives MANO's structure
    V = base.num_vertices
    kintree = np.stack([PARENTS.copy(), np.arange(16)]).astype(np.int64)
    kintree[0, 0] = 4294967295  # MANO stores the root's parent as uint32(-1)
    comps = np.linalg.qr(rng.standard_normal((45, 45)))[0]
    return dict(
        v_template=base.v_template,
        f=base.faces.astype(np.uint32),
        weights=base.weights,
        J_regressor=scipy.sparse.csc_matrix(base.j_regressor),
        kintree_table=kintree,
        shapedirs=base.shapedirs,  # wrapped in a chumpy object below
        posedirs=rng.standard_normal((V, 3, 135)) * 1e-3,
        hands_components=comps,
        hands_mean=rng.standard_normal(45) * 0.1,
        hands_coeffs=rng.standard_normal((10, 45)),
        J=base.j_regressor @ base.v_template,
        bs_style="lbs",
        bs_type="lrotmin",
    )


@pytest.fixture(scope="module")
def mano_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("mano")
    chumpy, ch, Ch = _fake_chumpy()
    raw = _make_mano_dict()
    data = dict(raw)
    data["shapedirs"] = Ch(raw["shapedirs"])
    sys.modules["chumpy"], sys.modules["chumpy.ch"] = chumpy, ch
    try:
        with open(d / "MANO_RIGHT.pkl", "wb") as f:
            pickle.dump(data, f, protocol=2)
    finally:
        del sys.modules["chumpy"], sys.modules["chumpy.ch"]
    return d, raw


def _rodrigues(aa: np.ndarray) -> np.ndarray:
    return Rotation.from_rotvec(aa).as_matrix()


def numpy_mano_lbs(raw: dict, global_orient, hand_pose_full, betas, transl):
    """Reference MANO forward, written independently of the package (one sample)."""
    v_shaped = raw["v_template"] + raw["shapedirs"][..., : len(betas)] @ betas
    J = raw["J_regressor"] @ v_shaped
    pose = np.concatenate([global_orient, hand_pose_full]).reshape(16, 3)
    R = np.stack([_rodrigues(p) for p in pose])
    feat = (R[1:] - np.eye(3)).reshape(-1)
    v_posed = v_shaped + raw["posedirs"] @ feat
    G = np.zeros((16, 4, 4))
    for j in range(16):
        local = np.eye(4)
        local[:3, :3] = R[j]
        local[:3, 3] = J[j] - (J[PARENTS[j]] if j > 0 else 0)
        G[j] = local if j == 0 else G[PARENTS[j]] @ local
    A = G.copy()
    for j in range(16):
        A[j, :3, 3] -= G[j, :3, :3] @ J[j]
    T = np.einsum("vj,jab->vab", raw["weights"], A)
    vh = np.concatenate([v_posed, np.ones((len(v_posed), 1))], 1)
    verts = np.einsum("vab,vb->va", T, vh)[:, :3] + transl
    return verts, G[:, :3, 3] + transl


def test_loader_never_imports_chumpy(mano_dir):
    d, _ = mano_dir
    read_mano_pkl(d / "MANO_RIGHT.pkl")
    assert "chumpy" not in sys.modules


@pytest.mark.parametrize("flat_hand_mean", [False, True])
def test_mano_model_matches_direct_numpy_lbs(mano_dir, flat_hand_mean):
    d, raw = mano_dir
    model = HandModel(model="mano", mano_dir=d, flat_hand_mean=flat_hand_mean, dtype=torch.float64)
    rng = np.random.default_rng(1)
    go, hp, be, tr = rng.normal(size=3), rng.normal(size=45) * 0.3, rng.normal(size=10), rng.normal(size=3) * 0.1
    out = model(
        global_orient=torch.tensor(go)[None],
        hand_pose=torch.tensor(hp).reshape(1, 15, 3),
        betas=torch.tensor(be)[None],
        transl=torch.tensor(tr)[None],
        joint_order="mano",
    )
    full = hp if flat_hand_mean else hp + raw["hands_mean"]
    v_ref, j_ref = numpy_mano_lbs(raw, go, full, be, tr)
    np.testing.assert_allclose(out.vertices[0].numpy(), v_ref, atol=1e-10)
    np.testing.assert_allclose(out.joints[0, :16].numpy(), j_ref, atol=1e-10)
    np.testing.assert_allclose(out.joints[0, 16:].numpy(), v_ref[list(MANO_TIP_VERTEX_IDS)], atol=1e-10)


def test_mano_pca_pose_components(mano_dir):
    d, raw = mano_dir
    model = HandModel(model="mano", mano_dir=d, use_pca=True, num_pca_comps=6, dtype=torch.float64)
    coeffs = np.random.default_rng(2).normal(size=6)
    out = model(hand_pose=torch.tensor(coeffs)[None], joint_order="mano")
    full = coeffs @ raw["hands_components"][:6] + raw["hands_mean"]
    v_ref, _ = numpy_mano_lbs(raw, np.zeros(3), full, np.zeros(10), np.zeros(3))
    np.testing.assert_allclose(out.vertices[0].numpy(), v_ref, atol=1e-10)


def test_convert_once_to_npz_gives_the_same_model(mano_dir, tmp_path):
    d, _ = mano_dir
    npz = convert_mano(d / "MANO_RIGHT.pkl", tmp_path / "MANO_RIGHT.npz")
    a = load_mano(d, "right")
    b = load_mano(npz, "right")
    for key in ("v_template", "faces", "weights", "j_regressor", "shapedirs", "posedirs", "pose_components"):
        np.testing.assert_array_equal(getattr(a, key), getattr(b, key))
    assert b.side == "right" and b.name == "mano"


def test_mano_mesh_is_capped_watertight(mano_dir):
    from handrecon.geometry.topology import is_watertight

    d, _ = mano_dir
    assert is_watertight(load_mano(d, "right").faces_closed)


def test_malicious_pickle_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            import os

            return (os.system, ("echo pwned",))

    p = tmp_path / "MANO_RIGHT.pkl"
    with open(p, "wb") as f:
        pickle.dump({"v_template": Evil()}, f, protocol=2)
    with pytest.raises(ValueError, match="refusing"):
        read_mano_pkl(p)


def test_missing_mano_files_give_a_clear_error(tmp_path):
    with pytest.raises(InputError, match="MANO_LEFT.pkl"):
        HandModel(model="mano", mano_dir=tmp_path, side="left")


def _huge_string_pickle() -> bytes:
    """A protocol-4 pickle whose BINUNICODE8 opcode declares a 2**40-byte string (then ends)."""
    return b"\x80\x04\x8d" + (2**40).to_bytes(8, "little") + b"abc"


@pytest.mark.parametrize(
    "content, reason",
    [
        ({"v_template": np.zeros((4, 3))}, "missing 'f'"),
        ({"v_template": "abc", "f": "x", "weights": 1, "J_regressor": 2, "shapedirs": 3, "kintree_table": 4},
         "not a usable MANO model"),
        (_huge_string_pickle(), "not a readable MANO pickle"),
        (b"\x80\x02}q\x00", "not a readable MANO pickle"),  # truncated
        ([1, 2, 3], "no 'v_template'"),
    ],
)  # fmt: skip
def test_every_mano_failure_is_one_line_naming_the_file(tmp_path, content, reason):
    p = tmp_path / "MANO_RIGHT.pkl"
    p.write_bytes(content if isinstance(content, bytes) else pickle.dumps(content, protocol=2))
    with pytest.raises(ModelFileError) as info:
        HandModel(model="mano", mano_dir=tmp_path, side="right")
    msg = str(info.value)
    assert msg.startswith(f"{p}: ") and reason in msg and "\n" not in msg


def test_a_missing_mano_folder_is_named(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_mano(tmp_path / "nowhere", "right")
