"""The asset builder's anatomical skeleton (tools/hand_skeleton.py) on the bundled template: joints at the
literature's segment proportions, convex regressor rows, bone-heat skinning weights that form a partition of
unity and follow the bones."""

from __future__ import annotations

import numpy as np
import pytest

from handrecon.hand.asset import load_openhand
from tests.tools import load_tool

pytest.importorskip("igl")


@pytest.fixture(scope="module")
def hs():
    return load_tool("hand_skeleton")


@pytest.fixture(scope="module")
def built(hs):
    a = load_openhand()
    v, tips = a.v_template, a.tip_vertex_ids
    joints, hl, hb, lines, group = hs.anatomical_skeleton(v, a.faces_closed, a.weights, a.j_regressor @ v, tips)
    return a, joints, hl, hb, group, lines


def test_segments_follow_the_literature(hs, built):
    a, joints, hl, _, _, _ = built
    v = a.v_template
    for finger, chain in hs.CHAINS.items():
        tip = v[a.tip_vertex_ids[hs.TIP_INDEX[finger]]]
        pts = [*joints[list(chain)], tip]
        lengths = [np.linalg.norm(pts[i + 1] - pts[i]) / hl for i in range(3)]
        ratios = hs.SEGMENT_RATIO[finger]
        # distal and middle segments (thumb: proximal and distal) are placed at the literature's lengths; the
        # in-plane projection of PIP/DIP shortens them by well under a millimetre
        np.testing.assert_allclose(lengths[1:], ratios[-2:], atol=0.004)
    assert 0.15 < hl < 0.22 and 0.06 < built[3] < 0.11  # hand length and breadth in metres: an adult hand


def test_regressor_rows_are_convex_and_exact(hs, built):
    a, joints, _, _, group, _ = built
    R = hs.joint_regressor_rows(a.v_template, joints, group)
    assert (R >= 0).all()
    np.testing.assert_allclose(R[1:].sum(1), 1.0, atol=1e-9)
    np.testing.assert_allclose(R[1:] @ a.v_template, joints[1:], atol=1e-4)


def test_bone_heat_weights(hs, built):
    a, joints, _, _, group, _ = built
    v = a.v_template
    W = hs.bone_heat_weights(v, a.faces, joints, v[a.tip_vertex_ids], group)
    assert W.shape == (len(v), 16) and (W >= 0).all() and ((W > 0).sum(1) <= 4).all()
    np.testing.assert_allclose(W.sum(1), 1.0, atol=1e-9)
    # each fingertip moves with its distal phalanx alone; the skin proximal of the wrist mostly with the palm
    for finger, chain in hs.CHAINS.items():
        assert W[a.tip_vertex_ids[hs.TIP_INDEX[finger]], chain[-1]] > 0.99
    assert (W[v[:, 1] < 0].argmax(1) == 0).all()
    # every joint drives a sizeable share of the skin (no bone left without vertices)
    assert (W.sum(0) > 20).all()


def test_keypoints_sit_where_the_surface_anatomy_puts_them(hs, built):
    """Finger MCP keypoints 17 mm distal of their joint on the finger's centreline (proximal digital crease),
    the thumb CMC's the source rig's, all others at their joints."""
    a, joints, _, _, _, lines = built
    source = a.j_regressor @ a.v_template
    kp = hs.keypoint_positions(joints, lines, source)
    moved = {chain[0] for finger, chain in hs.CHAINS.items() if finger != "thumb"}
    for j in range(16):
        if j in moved:
            assert np.linalg.norm(kp[j] - joints[j]) == pytest.approx(hs.MCP_KEYPOINT_OFFSET, abs=2e-4)
            assert (kp[j] - joints[j])[1] > 0.012  # distal (+y)
            _, d, _ = hs._project_on_polyline(kp[j][None], next(lines[f] for f, c in hs.CHAINS.items() if c[0] == j))
            assert d[0] < 1e-6
        elif j == hs.CHAINS["thumb"][0] and hs.THUMB_CMC_KEYPOINT_FROM_SOURCE:
            np.testing.assert_allclose(kp[j], source[j])
        else:
            np.testing.assert_allclose(kp[j], joints[j])


def test_rest_pose_is_a_valid_pose(hs, built):
    """The rest skeleton's anatomical angles lie within the ranges of motion: no interphalangeal joint
    hyperextended, no sideways deviation at the thumb's hinges (the template is a relaxed hand)."""
    import torch

    from handrecon.hand.anatomy import Anatomy, anatomical_frames
    from handrecon.hand.rom import range_of_motion

    a, joints, _, _, _, _ = built
    A, Q = anatomical_frames(np.concatenate([joints, a.v_template[a.tip_vertex_ids]]), "right")
    rest = Anatomy(A, Q, dtype=torch.float64).rest_angles()
    rom = range_of_motion(torch.float64)
    outside = torch.maximum(rom[..., 0] - rest, rest - rom[..., 1]).clamp_min(0)
    assert np.degrees(float(outside.max())) < 0.1


def test_unhyperextend_straightens_only_a_joint_bent_backwards(hs):
    palmar = np.array([0.0, 0.0, 1.0])
    chain = [1, 2, 3]
    joints = np.zeros((16, 3))
    joints[1], joints[2], joints[3] = [0, 0.0, 0], [0, 0.04, -0.003], [0, 0.065, -0.0015]
    tip = np.array([0, 0.085, -0.002])  # the DIP lies 0.9 mm palmar (+z) of the PIP-to-tip line: hyperextended
    before = joints.copy()
    hs.unhyperextend(joints, chain, tip, palmar)
    u = (tip - joints[2]) / np.linalg.norm(tip - joints[2])
    off = joints[3] - joints[2] - ((joints[3] - joints[2]) @ u) * u
    assert np.linalg.norm(off) < 1e-9  # the DIP now on the line: straight, not bent backwards
    assert np.linalg.norm(joints[3] - before[3]) < 1e-3  # moved by under a millimetre
    np.testing.assert_array_equal(joints[2], before[2])  # the PIP, flexed, stays
    # a chain flexed at rest (joints dorsal, -z, of the line to the tip) is left as it is
    flexed = before.copy()
    flexed[3, 2] = -0.004
    same = flexed.copy()
    hs.unhyperextend(same, chain, tip, palmar)
    np.testing.assert_array_equal(same, flexed)
