"""Anatomical frames and Euler angles; range-of-motion table."""

import math

import pytest
import torch

from handrecon.hand import HandModel
from handrecon.hand.anatomy import Anatomy
from handrecon.hand.keypoints import MANO21_TIPS
from handrecon.hand.mirror import mirror_axis_angle
from handrecon.hand.rom import JOINT_KINDS, joint_range_table, range_of_motion

DEG = math.pi / 180


@pytest.fixture(scope="module")
def anat(right64) -> Anatomy:
    return Anatomy.from_hand_model(right64)


def _sample_in_rom(n: int, seed: int) -> torch.Tensor:
    rom = range_of_motion(torch.float64)
    u = torch.rand(n, 15, 3, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return rom[..., 0] + u * (rom[..., 1] - rom[..., 0])


def test_euler_rotation_euler_round_trip_over_whole_range(anat):
    angles = _sample_in_rom(2000, seed=0)
    rom = range_of_motion(torch.float64)
    corners = torch.stack([rom[..., 0], rom[..., 1]])  # the extremes of every range
    angles = torch.cat([angles, corners])
    back = anat.rotations_to_euler(anat.euler_to_rotations(angles))
    torch.testing.assert_close(back, angles, atol=1e-9, rtol=0)


def test_rotation_euler_rotation_round_trip(anat):
    R = anat.euler_to_rotations(_sample_in_rom(100, seed=1))
    torch.testing.assert_close(anat.euler_to_rotations(anat.rotations_to_euler(R)), R, atol=1e-10, rtol=0)


def test_euler_conversion_is_differentiable(anat):
    a = _sample_in_rom(4, seed=2).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x: anat.rotations_to_euler(anat.euler_to_rotations(x)), (a,))


def test_rest_pose_lies_within_the_ranges(anat):
    rest = anat.rest_angles()
    rom = range_of_motion(torch.float64)
    outside = torch.maximum(rom[..., 0] - rest, rest - rom[..., 1]).clamp_min(0)
    assert outside.max() < 3 * DEG  # nearly straight DIPs of the rest mesh deviate by < 3 degrees
    assert rest[..., 2].abs().max() < 1e-9  # the rest pose is the twist origin


def test_positive_bend_flexes_towards_the_palm(right64, anat):
    # A finger's PIP bend of +60 degrees moves its fingertip to +z (palmar side) relative to rest.
    for j, tip in ((1, "index"), (4, "middle"), (7, "pinky"), (10, "ring")):
        angles = anat.rest_angles().clone()[None]
        angles[0, j, 0] += 60 * DEG
        R = anat.euler_to_rotations(angles)
        bent = right64(hand_pose=R, joint_order="mano").joints[0, MANO21_TIPS[tip]]
        rest = right64(joint_order="mano").joints[0, MANO21_TIPS[tip]]
        assert bent[2] - rest[2] > 0.01, tip


def test_positive_mcp_splay_deviates_radially(right64, anat):
    angles = anat.rest_angles().clone()[None]
    angles[0, 3, 1] += 15 * DEG  # middle MCP
    R = anat.euler_to_rotations(angles)
    moved = right64(hand_pose=R, joint_order="mano").joints[0, MANO21_TIPS["middle"]]
    rest = right64(joint_order="mano").joints[0, MANO21_TIPS["middle"]]
    assert moved[0] - rest[0] > 0.01  # +x is radial


def test_mirrored_pose_has_the_same_angles(right64):
    left = HandModel(side="left", dtype=torch.float64)
    ar, al = Anatomy.from_hand_model(right64), Anatomy.from_hand_model(left)
    g = torch.Generator().manual_seed(3)
    aa = 0.5 * torch.randn(8, 15, 3, generator=g, dtype=torch.float64)
    from handrecon.geometry.rotations import axis_angle_to_matrix

    er = ar.rotations_to_euler(axis_angle_to_matrix(aa))
    el = al.rotations_to_euler(axis_angle_to_matrix(mirror_axis_angle(aa)))
    torch.testing.assert_close(er, el, atol=1e-10, rtol=0)


def test_range_table_has_a_source_for_every_bound_and_zero_width_where_no_dof():
    table = joint_range_table()
    assert len(table) == 15 == len(JOINT_KINDS)
    for r, kind in zip(table, JOINT_KINDS, strict=True):
        assert all(s for s in r.sources)
        for lo, hi in (r.bend, r.splay, r.twist):
            assert lo <= hi
        if kind in ("pip", "dip", "ip", "thumb_mcp"):
            assert r.splay == (0.0, 0.0) and r.twist == (0.0, 0.0)
        assert r.bend[1] > 0  # every joint flexes
