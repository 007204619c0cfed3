"""HandModel (openhand): rest pose, rigid motion, mirroring, shape space, gradients, mesh closure."""

import numpy as np
import pytest
import torch

from handrecon.geometry.rotations import axis_angle_to_matrix
from handrecon.geometry.topology import boundary_loops, is_watertight
from handrecon.hand import HandModel
from handrecon.hand.keypoints import MANO21_TIPS, convert_keypoints
from handrecon.hand.mirror import mirror_hand_params, mirror_points

from .conftest import random_params


def test_rest_pose_reproduces_template(right):
    out = right(betas=torch.zeros(2, 10))
    assert out.vertices.shape == (2, 1609, 3)
    torch.testing.assert_close(out.vertices, right.v_template.expand(2, -1, -1), atol=1e-6, rtol=0)
    # Joints at rest are the regressed template joints; the wrist is the frame's origin.
    torch.testing.assert_close(out.joints[:, 0], torch.zeros(2, 3), atol=1e-6, rtol=0)


def test_zero_pose_equals_no_pose(right):
    a = right()
    b = right(global_orient=torch.zeros(1, 3), hand_pose=torch.zeros(1, 15, 3), betas=torch.zeros(1, 10))
    torch.testing.assert_close(a.vertices, b.vertices)


def test_global_orient_and_transl_move_the_hand_rigidly(right64):
    p = random_params(4, seed=1, dtype=torch.float64)
    base = right64(hand_pose=p["hand_pose"], betas=p["betas"])
    moved = right64(**p)
    R = axis_angle_to_matrix(p["global_orient"])
    root = base.joints[:, :1]  # rotation is about the wrist joint
    expect_v = (base.vertices - root) @ R.transpose(1, 2) + root + p["transl"][:, None]
    expect_j = (base.joints - root) @ R.transpose(1, 2) + root + p["transl"][:, None]
    torch.testing.assert_close(moved.vertices, expect_v, atol=1e-10, rtol=0)
    torch.testing.assert_close(moved.joints, expect_j, atol=1e-10, rtol=0)
    # Pairwise distances unchanged.
    d0 = torch.cdist(base.vertices[:, ::40], base.vertices[:, ::40])
    d1 = torch.cdist(moved.vertices[:, ::40], moved.vertices[:, ::40])
    torch.testing.assert_close(d0, d1, atol=1e-7, rtol=0)


def test_rotation_matrix_inputs_match_axis_angle(right64):
    p = random_params(3, seed=2, dtype=torch.float64)
    a = right64(**p)
    b = right64(
        global_orient=axis_angle_to_matrix(p["global_orient"]),
        hand_pose=axis_angle_to_matrix(p["hand_pose"]),
        betas=p["betas"],
        transl=p["transl"],
    )
    torch.testing.assert_close(a.vertices, b.vertices, atol=1e-12, rtol=0)


def test_left_of_mirrored_pose_is_mirror_of_right(right, left):
    p = random_params(5, seed=3)
    go, hp, tr = mirror_hand_params(p["global_orient"], p["hand_pose"], p["transl"])
    r = right(**p)
    lft = left(global_orient=go, hand_pose=hp, betas=p["betas"], transl=tr)
    torch.testing.assert_close(lft.vertices, mirror_points(r.vertices), atol=1e-5, rtol=0)
    torch.testing.assert_close(lft.joints, mirror_points(r.joints), atol=1e-5, rtol=0)


def test_left_mesh_faces_point_outwards(left):
    # Signed volume of the closed mesh is positive for outward-facing (counter-clockwise) triangles.
    v = left.v_template.double()
    f = left.faces_closed
    vol = (v[f[:, 0]] * torch.cross(v[f[:, 1]], v[f[:, 2]], dim=-1)).sum() / 6
    assert vol > 0


def test_right_mesh_faces_point_outwards(right):
    v = right.v_template.double()
    f = right.faces_closed
    vol = (v[f[:, 0]] * torch.cross(v[f[:, 1]], v[f[:, 2]], dim=-1)).sum() / 6
    assert 1e-4 < vol < 1e-3  # an adult hand is a few hundred cm^3


def test_open_mesh_has_one_hole_and_caps_make_it_watertight(right):
    assert len(boundary_loops(right.faces)) == 1
    assert not is_watertight(right.faces)
    assert is_watertight(right.faces_closed)
    assert right.cap_face_mask.sum() == right.faces_closed.shape[0] - right.faces.shape[0] > 0


def _hand_length_mm(model: HandModel, betas: torch.Tensor) -> torch.Tensor:
    out = model(betas=betas, joint_order="mano")
    return (out.joints[:, MANO21_TIPS["middle"]] - out.joints[:, 0]).norm(dim=-1) * 1000


def test_beta_moves_hand_length_by_reported_amounts(right):
    stats = right.asset.metadata["hand_length_stats"]
    for k, row in enumerate(stats["straight_mm_at_beta_k_pm2"]):
        for key, expected in row.items():
            b = torch.zeros(1, 10)
            b[0, k] = float(key)
            assert abs(_hand_length_mm(right, b).item() - expected) < 0.5
    # beta ~ N(0, I) spans the reported population range of adult hands.
    g = torch.Generator().manual_seed(5)
    lengths = _hand_length_mm(right, torch.randn(4000, 10, generator=g)).numpy()
    rep = stats["model_betas_N01_percentiles_mm"]["straight"]
    for p in ("2.5", "50", "97.5"):
        assert abs(np.percentile(lengths, float(p)) - rep[p]) < 2.0
    assert 150 < rep["2.5"] < 170 and 195 < rep["97.5"] < 215  # adult anthropometry (Pheasant 2006)


def test_first_beta_scales_the_whole_hand(right):
    b = torch.zeros(2, 10)
    b[1, 0] = 2.0
    out = right(betas=b)
    width = (out.vertices[:, :, 0].amax(1) - out.vertices[:, :, 0].amin(1)) * 1000
    assert width[1] > width[0] + 5  # a bigger hand is wider too


def test_joint_regressor_reproduces_rig_joints_of_held_out_shapes(right):
    meta = right.asset.metadata
    betas = torch.as_tensor(meta["val_betas"], dtype=torch.float32)
    rig = torch.as_tensor(meta["val_joints"], dtype=torch.float32)
    out = right(betas=betas, joint_order="mano")
    err = (out.joints[:, :16] - rig).norm(dim=-1) * 1000
    assert err.mean() < 1.5 and err.max() < 6.0


def test_keypoint_order_conversions_are_inverse(right):
    out = right(**random_params(2, seed=4))
    mano = right(**random_params(2, seed=4), joint_order="mano").joints
    torch.testing.assert_close(convert_keypoints(out.joints, "openpose", "mano"), mano)
    torch.testing.assert_close(convert_keypoints(mano, "mano", "openpose"), out.joints)


@pytest.mark.parametrize("seed", [0, 1])
def test_gradients_are_finite_in_all_inputs(right64, seed):
    p = random_params(3, seed=seed, dtype=torch.float64)
    if seed == 0:
        p = {k: torch.zeros_like(v) for k, v in p.items()}  # the identity is the delicate case
    for v in p.values():
        v.requires_grad_(True)
    out = right64(**p)
    (out.vertices.square().sum() + out.joints.sum()).backward()
    for k, v in p.items():
        assert v.grad is not None and torch.isfinite(v.grad).all(), k
        assert v.grad.abs().sum() > 0, k


def test_gradient_matches_finite_differences(right64):
    p = random_params(1, seed=7, dtype=torch.float64)

    def f(hp):
        return right64(global_orient=p["global_orient"], hand_pose=hp, betas=p["betas"]).joints.sum()

    assert torch.autograd.gradcheck(f, (p["hand_pose"].requires_grad_(True),), eps=1e-6, atol=1e-6)


def test_float64_and_float32_agree(right, right64):
    p = random_params(2, seed=8)
    a = right(**p).vertices.double()
    b = right64(**{k: v.double() for k, v in p.items()}).vertices
    torch.testing.assert_close(a, b, atol=2e-5, rtol=0)


def test_bad_inputs_raise_clear_errors(right):
    with pytest.raises(ValueError, match="hand_pose"):
        right(hand_pose=torch.zeros(1, 14, 3))
    with pytest.raises(ValueError, match="batch size"):
        right(global_orient=torch.zeros(2, 3), hand_pose=torch.zeros(3, 15, 3))
    with pytest.raises(ValueError, match="betas"):
        right(betas=torch.zeros(1, 11))
    with pytest.raises(ValueError, match="side"):
        HandModel(side="middle")
    with pytest.raises(ValueError, match="mano_dir"):
        HandModel(model="mano")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu(right):
    p = random_params(4, seed=9)
    cpu = right(**p).vertices
    gpu = HandModel().cuda()(**{k: v.cuda() for k, v in p.items()}).vertices.cpu()
    torch.testing.assert_close(cpu, gpu, atol=1e-5, rtol=0)


def test_joints_only_forward_matches_full_forward(right64):
    p = random_params(3, seed=11, dtype=torch.float64)
    full = right64(**p)
    fast = right64(**p, skin_mesh=False)
    assert fast.vertices is None
    torch.testing.assert_close(fast.joints, full.joints, atol=1e-12, rtol=0)


def test_bone_scales_of_one_change_nothing_and_stretch_one_segment(right64):
    p = random_params(2, seed=12, dtype=torch.float64)
    ones = torch.ones(2, 16, dtype=torch.float64)
    torch.testing.assert_close(right64(**p, bone_scales=ones).vertices, right64(**p).vertices, atol=1e-12, rtol=0)
    s = ones.clone()
    s[:, 4] = 1.25  # middle proximal phalanx
    a = right64(**p, joint_order="mano")
    b = right64(**p, bone_scales=s, joint_order="mano")
    length = lambda o, i, j: (o.joints[:, i] - o.joints[:, j]).norm(dim=-1)  # noqa: E731
    torch.testing.assert_close(length(b, 5, 4), 1.25 * length(a, 5, 4))
    torch.testing.assert_close(length(b, 6, 5), length(a, 6, 5))  # next phalanx unchanged
    torch.testing.assert_close(b.joints[:, 1:4], a.joints[:, 1:4])  # other fingers unchanged
    # joints-only path agrees with the full mesh path
    fast = right64(**p, bone_scales=s, skin_mesh=False, joint_order="mano")
    torch.testing.assert_close(fast.joints, b.joints, atol=1e-12, rtol=0)


def test_vertex_subset_matches_the_full_mesh():
    model = HandModel(side="left", dtype=torch.float64)
    g = torch.Generator().manual_seed(5)
    inputs = {
        "global_orient": 0.3 * torch.randn(2, 3, generator=g, dtype=torch.float64),
        "hand_pose": 0.4 * torch.randn(2, 15, 3, generator=g, dtype=torch.float64),
        "betas": torch.randn(2, model.num_betas, generator=g, dtype=torch.float64),
        "transl": torch.randn(2, 3, generator=g, dtype=torch.float64),
        "bone_scales": 1 + 0.2 * torch.rand(2, 16, generator=g, dtype=torch.float64),
    }
    full = model(**inputs)
    ids = torch.tensor([0, 17, 400, model.num_vertices - 1])
    part = model(**inputs, skin_mesh=False, vertex_ids=ids)
    torch.testing.assert_close(part.vertices, full.vertices[:, ids], atol=1e-12, rtol=0)
    torch.testing.assert_close(part.joints, full.joints, atol=1e-12, rtol=0)
