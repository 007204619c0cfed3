"""Pose-limit (eq. 1) and functional-anatomy (eq. 2-3) losses of the knowledge-prior paper."""

import math

import numpy as np
import pytest
import torch

from handrecon.hand import HandModel
from handrecon.hand.rom import range_of_motion
from handrecon.priors.knowledge import AnatomicalPosePrior, functional_ranges, pose_limit_loss

DEG = math.pi / 180
# hand_pose indices (MANO order): index MCP/PIP/DIP = 0/1/2, middle 3/4/5, ...
MCP, PIP, DIP = 3, 4, 5  # middle finger


@pytest.fixture(scope="module")
def prior() -> AnatomicalPosePrior:
    return AnatomicalPosePrior.from_hand_model(HandModel(dtype=torch.float64))


def rom() -> torch.Tensor:
    return range_of_motion(torch.float64)


def inside_pose() -> torch.Tensor:
    """Comfortably inside every range: mid flexion, zero splay/twist (thumb CMC mid-range)."""
    a = torch.zeros(1, 15, 3, dtype=torch.float64)
    a[0, :, 0] = 20 * DEG
    a[0, 12] = torch.tensor([-20 * DEG, 30 * DEG, 0.0])
    return a


def test_zero_on_rest_pose(prior):
    rest = torch.eye(3, dtype=torch.float64).expand(1, 15, 3, 3)
    v = prior.violations(rest)
    # The rest mesh's nearly straight DIPs deviate by < 3 degrees; nothing else is out of range.
    assert v.max() < 3 * DEG
    assert prior(rest) < (3 * DEG) ** 2 * 4


def test_zero_inside_ranges():
    a = inside_pose()
    assert pose_limit_loss(a, rom()) == 0
    assert pose_limit_loss(a, rom(), functional=False) == 0


def test_known_value_of_eq1():
    a = inside_pose()
    a[0, PIP, 0] = -10 * DEG  # 10 degrees of PIP hyperextension (range starts at 0)
    a[0, DIP, 2] = 5 * DEG  # 5 degrees of twist on a hinge
    expected = (10 * DEG) ** 2 + (5 * DEG) ** 2
    torch.testing.assert_close(pose_limit_loss(a, rom(), functional=False), torch.tensor(expected, dtype=torch.float64))


def _grad_of(a: torch.Tensor, functional: bool = True, table: torch.Tensor | None = None) -> torch.Tensor:
    a = a.clone().requires_grad_(True)
    loss = pose_limit_loss(a, rom() if table is None else table, functional=functional)
    assert loss > 0
    loss.backward()
    return a.grad[0]


def test_hyperextended_pip_is_pushed_to_flexion():
    a = inside_pose()
    a[0, PIP, 0] = -30 * DEG
    assert _grad_of(a)[PIP, 0] < 0  # gradient descent increases the bend


def test_twisted_dip_is_untwisted():
    a = inside_pose()
    a[0, DIP, 2] = 25 * DEG
    assert _grad_of(a)[DIP, 2] > 0
    a[0, DIP, 2] = -25 * DEG
    assert _grad_of(a)[DIP, 2] < 0


def test_mcp_fully_bent_and_fully_splayed_is_penalised():
    a = inside_pose()
    a[0, MCP, 0] = 85 * DEG  # inside the static bend range (<= 90)
    a[0, MCP, 1] = 18 * DEG  # inside the static splay range (<= 20)
    assert pose_limit_loss(a, rom(), functional=False) == 0
    g = _grad_of(a)
    assert g[MCP, 1] > 0  # splay pulled back towards zero
    assert g[MCP, 0] > 0  # and bend relaxed (eq. 2 both ways)
    ranges = functional_ranges(a, rom())
    assert ranges[0, MCP, 1, 1] < 3 * DEG  # splay range nearly closed near full flexion


def test_dip_bent_while_pip_extended_lifts_pip_bound():
    # With a table allowing PIP hyperextension, eq. 3 is what forbids it once the DIP flexes.
    table = rom().clone()
    table[PIP, 0, 0] = -20 * DEG
    a = inside_pose()
    a[0, PIP, 0] = -10 * DEG
    a[0, DIP, 0] = 0.0
    assert pose_limit_loss(a, table) == 0  # DIP straight: hyperextension allowed by the table
    a[0, DIP, 0] = 30 * DEG
    g = _grad_of(a, table=table)
    assert g[PIP, 0] < 0  # PIP pushed back to flexion


def test_prior_through_rotations_matches_angles(prior):
    a = inside_pose()
    a[0, MCP, 1] = 35 * DEG
    R = prior.anatomy.euler_to_rotations(a)
    torch.testing.assert_close(prior(R), pose_limit_loss(a, prior.rom))


def test_keypoint_angles_agree_with_model_angles_and_e_j_is_zero_in_range():
    from handrecon.hand.anatomy import keypoint_angles
    from handrecon.priors.self_supervised import joint_angle_regularizer

    model = HandModel(dtype=torch.float64)
    prior = AnatomicalPosePrior.from_hand_model(model)
    a = inside_pose()
    a[0, :, 2] = 0.0
    joints = model(hand_pose=prior.anatomy.euler_to_rotations(a)).joints
    est = keypoint_angles(joints)
    # bends of the four fingers' joints follow the model's angles (frames differ slightly: hinge planes)
    fingers = [i for i in range(12)]
    assert (est[0, fingers, 0] - a[0, fingers, 0]).abs().max() < 6 * DEG
    assert joint_angle_regularizer(joints) < (2 * DEG) ** 2


def test_e_j_penalises_hyperextension_with_gradient_back_into_range():
    from handrecon.priors.self_supervised import joint_angle_regularizer

    model = HandModel(dtype=torch.float64)
    prior = AnatomicalPosePrior.from_hand_model(model)
    a = inside_pose()
    a[0, :, 2] = 0.0
    a[0, PIP, 0] = -35 * DEG
    a = a.requires_grad_(True)
    joints = model(hand_pose=prior.anatomy.euler_to_rotations(a)).joints
    loss = joint_angle_regularizer(joints)
    assert loss > (20 * DEG) ** 2
    loss.backward()
    assert a.grad[0, PIP, 0] < 0  # descent increases the bend


def _edge_angles() -> torch.Tensor:
    """Angles (N, 15, 3) on and around the bounds: every table value, zero, -0 and tiny offsets, mixed."""
    r = rom().reshape(-1)
    values = torch.cat([r, r + 1e-12, r - 1e-12, torch.tensor([0.0, -0.0, 1e-17, 0.3, -0.3], dtype=torch.float64)])
    g = torch.Generator().manual_seed(3)
    pick = torch.randint(len(values), (400, 15, 3), generator=g)
    return torch.cat([values[pick], 0.8 * torch.randn(100, 15, 3, generator=g, dtype=torch.float64)])


def test_numpy_functional_ranges_equal_the_torch_ranges_to_the_bit():
    from handrecon.priors.knowledge import functional_range_slopes, functional_ranges_numpy

    a = _edge_angles()
    want = functional_ranges(a, rom()).numpy()
    np.testing.assert_array_equal(functional_ranges_numpy(a.numpy(), rom()), want)
    np.testing.assert_array_equal(functional_range_slopes(a.numpy(), rom())[0], want)


def test_functional_range_slopes_known_values():
    """MCP at half its bend extreme: the splay range is halved and moves by -rom_splay / bend_extreme per
    radian of bend; its bend range moves with the splay the same way; bounds of joints other than the MCPs
    and twist bounds do not move."""
    from handrecon.hand.rom import MCP_JOINTS
    from handrecon.priors.knowledge import functional_range_slopes

    table = rom()
    j = MCP_JOINTS[1]
    hi_bend, hi_splay = float(table[j, 0, 1]), float(table[j, 1, 1])
    a = torch.zeros(1, 15, 3, dtype=torch.float64)
    a[0, j, 0] = 0.5 * hi_bend
    a[0, j, 1] = 0.25 * hi_splay
    ranges, slopes = functional_range_slopes(a.numpy(), table)
    np.testing.assert_allclose(ranges[0, j, 1], 0.5 * table[j, 1].numpy(), rtol=1e-15)
    np.testing.assert_allclose(ranges[0, j, 0], 0.75 * table[j, 0].numpy(), rtol=1e-15)
    np.testing.assert_allclose(slopes[0, j, 1], -table[j, 1].numpy() / hi_bend, rtol=1e-15)
    np.testing.assert_allclose(slopes[0, j, 0], -table[j, 0].numpy() / hi_splay, rtol=1e-15)
    others = np.ones(15, bool)
    others[list(MCP_JOINTS)] = False
    assert not slopes[0, others].any() and not slopes[0, :, 2].any()
    # the slopes are the derivatives a forward difference of the torch ranges sees
    h = 1e-7
    for row, col in ((1, 0), (0, 1)):  # splay range vs bend, bend range vs splay
        b = a.clone()
        b[0, j, col] += h
        fd = (functional_ranges(b, table) - functional_ranges(a, table))[0, j, row].numpy() / h
        np.testing.assert_allclose(fd, slopes[0, j, row], rtol=1e-6)
