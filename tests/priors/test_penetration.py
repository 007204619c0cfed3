"""Penetration priors: the non-penetration loss (eq. 4 of the knowledge-prior paper) and the two-hand penetration term.

Poses are built from anatomical angles (bend, splay, twist in degrees, added to the rest pose), so that
"a loose fist" or "the index pushed through the palm" mean what they say.
"""

import math

import numpy as np
import pytest
import torch

from handrecon.eval import penetration_rate
from handrecon.geometry.mesh import closest_points_on_triangles
from handrecon.geometry.rotations import matrix_to_axis_angle
from handrecon.geometry.topology import ordered_one_rings, part_boundary_loops
from handrecon.geometry.winding import solid_angles, winding_numbers
from handrecon.hand import HandModel
from handrecon.hand.anatomy import Anatomy
from handrecon.priors import penetration as pn

INDEX, THUMB = (0, 1, 2), (12, 13, 14)  # MANO joint order of hand_pose
THUMB_TIP = 0  # tip_vertex_ids order: thumb, index, middle, ring, pinky


@pytest.fixture(scope="module")
def right():
    return HandModel(side="right")


@pytest.fixture(scope="module")
def left():
    return HandModel(side="left")


def _pose(model: HandModel, bends: dict[int, float], splays: dict[int, float] | None = None) -> torch.Tensor:
    """Axis-angle hand pose (1, 15, 3) from anatomical bend / splay offsets in degrees."""
    anatomy = Anatomy.from_hand_model(model)
    deg = torch.zeros(1, 15, 3)
    for j, a in bends.items():
        deg[0, j, 0] = a
    for j, a in (splays or {}).items():
        deg[0, j, 1] = a
    return matrix_to_axis_angle(anatomy.euler_to_rotations(anatomy.rest_angles()[None] + torch.deg2rad(deg)))


def _loose_fist(model):
    bends = {j: a for f in (0, 3, 6, 9) for j, a in zip((f, f + 1, f + 2), (45.0, 60.0, 30.0), strict=True)}
    return _pose(model, {**bends, 13: 20.0, 14: 20.0})


def _index_through_palm(model):  # MCP and PIP flexed far beyond their range: the finger sinks into the palm
    return _pose(model, {0: 130.0, 1: 100.0, 2: 40.0})


def _thumb_into_palm(model):  # thumb alongside the palm, MCP and IP flexed beyond range: tip into the palm
    return _pose(model, {13: 80.0, 14: 80.0})


def _verts(model, pose=None, transl=None):
    return model(hand_pose=pose, transl=transl).vertices.detach()


def test_rest_pose_and_loose_fist_do_not_penetrate(right):
    rest = _verts(right)
    pen = pn.self_penetration(rest, right)
    assert not pen.inside.any() and pn.self_penetration_depth(rest, right).item() == 0.0
    assert pn.non_penetration_loss(rest, right).item() == 0.0
    fist = _verts(right, _loose_fist(right))
    depth = pn.self_penetration_depth(fist, right)
    assert depth.item() <= pn.D_TOL  # soft contact between neighbouring fingertips at most
    assert pn.non_penetration_loss(fist, right).item() == 0.0


@pytest.mark.parametrize("make", [_index_through_palm, _thumb_into_palm])
def test_finger_through_palm_is_detected_and_a_gradient_step_pulls_it_out(right, make):
    pose = make(right).requires_grad_(True)
    verts = right(hand_pose=pose).vertices
    pen = pn.self_penetration(verts, right)
    depth = pn.self_penetration_depth(verts, right).item()
    assert depth > pn.D_TOL
    loss = pn.non_penetration_loss(verts, right)
    assert loss.item() > 0
    loss.backward()
    step = pose.detach() - 0.05 * pose.grad / pose.grad.norm()
    moved = _verts(right, step)
    assert pn.non_penetration_loss(moved, right).item() < loss.item()
    assert pn.self_penetration_depth(moved, right).item() < depth
    # The penetrating vertices belong to the finger that was pushed in.
    skin = right.lbs_weights.argmax(1)  # dominant bone; MANO order: 1-3 index, 13-15 thumb
    bones = skin[pen.inside[0]].unique().tolist()
    assert set(bones) & ({2, 3} if make is _index_through_palm else {14, 15})
    if make is _thumb_into_palm:
        assert pen.inside[0, right.tip_vertex_ids[THUMB_TIP]]


def test_vertex_gradient_moves_the_deepest_vertex_towards_the_surface(right):
    verts = _verts(right, _index_through_palm(right)).requires_grad_(True)
    pen = pn.self_penetration(verts, right)
    deepest = int(pen.distance[0].argmax())
    u = int(pen.nearest[0, deepest])
    pn.non_penetration_loss(verts, right).backward()
    direction = verts.detach()[0, u] - verts.detach()[0, deepest]
    # Descent moves v towards u (its nearest non-neighbour vertex, on the surface it went through).
    assert torch.dot(-verts.grad[0, deepest], direction) > 0
    small = verts.detach() - 1e-4 * verts.grad / verts.grad.abs().max()
    assert pn.self_penetration(small, right).distance[0, deepest] < pen.distance[0, deepest]


def test_inside_vertices_are_inside_the_closed_mesh_and_d_is_the_nearest_non_neighbour(right):
    verts = _verts(right, _thumb_into_palm(right))
    pen = pn.self_penetration(verts, right)
    idx = torch.nonzero(pen.inside[0])[:, 0]
    # At a vertex the winding number is the fraction of its own cone (< 1) plus the layers around it, so a
    # vertex enclosed by another part of the hand has a winding number above 1.
    w = winding_numbers(verts[:, idx], verts, right.faces_closed)[0]
    assert (w > 1).all()
    col = pn.collider_for(right)
    d = (verts[0, idx, None] - verts[0, None]).norm(dim=-1).masked_fill(col.neighbors[idx], float("inf")).min(1).values
    assert torch.allclose(pen.distance[0, idx], d, atol=1e-7)
    # d(v) excludes the geodesic neighbourhood: the nearest non-neighbour is farther than the nearest vertex.
    assert (pen.nearest[0, idx] >= 0).all() and (pen.nearest[0, ~pen.inside[0]] == -1).all()


def test_loss_formula_reductions_and_tolerance(right):
    rest, bent = _verts(right), _verts(right, _thumb_into_palm(right))
    verts = torch.cat([rest, bent])
    pen = pn.self_penetration(verts, right)
    expected = torch.relu(pen.distance[1][pen.inside[1]] - 0.006).sum()
    per_sample = pn.non_penetration_loss(verts, right, reduction="none")
    assert torch.allclose(per_sample, torch.stack([torch.tensor(0.0), expected]))
    assert torch.allclose(pn.non_penetration_loss(verts, right), expected / 2)
    assert torch.allclose(pn.non_penetration_loss(verts, right, reduction="sum"), expected)
    looser = pn.non_penetration_loss(verts, right, d_tol=0.01, reduction="none")
    assert 0 < looser[1] < per_sample[1]
    # Batched results equal the one-by-one results; depths feed the penetration-rate metric.
    alone = pn.self_penetration(bent, right)
    assert torch.equal(alone.inside[0], pen.inside[1]) and torch.allclose(alone.distance[0], pen.distance[1])
    depths = pn.self_penetration_depth(verts, right)
    assert depths.shape == (2,) and penetration_rate(depths).item() == pytest.approx(0.5)


def test_float64_left_hand_and_bad_input():
    left = HandModel(side="left", dtype=torch.float64)
    verts = left(hand_pose=_thumb_into_palm(left)).vertices.detach()
    loss = pn.non_penetration_loss(verts.requires_grad_(True), left)
    assert loss.dtype == torch.float64 and loss.item() > 0
    loss.backward()
    assert torch.isfinite(verts.grad).all()
    with pytest.raises(ValueError, match="vertices"):
        pn.non_penetration_loss(verts[:, :100], left)


def test_collider_is_built_once_per_model(right):
    assert pn.collider_for(right) is pn.collider_for(right)
    col = pn.collider_for(right)
    assert pn.collider_for(col) is col
    # Parts touching a vertex's own part (the crease neighbours) are never tested against it.
    assert col.allowed.shape == (right.num_vertices, 16) and (~col.allowed).sum(1).min() >= 2
    assert col.neighbors.shape == (right.num_vertices,) * 2 and col.neighbors.diagonal().all()


def _reference_enclosed(model: HandModel, x: torch.Tensor) -> torch.Tensor:
    """(a) by brute force: (V,) bool, vertex x (V, 3) inside a part it may be inside of, every triangle of
    every part closed by fans from the centroids of its boundary loops, no culling."""
    col = pn.collider_for(model)
    faces = col.faces_closed.numpy()
    labels = pn.hand_part_labels(faces, model.lbs_weights.double().numpy())
    V = x.shape[0]
    enclosed = torch.zeros(V, dtype=torch.bool)
    for k in range(int(labels.max()) + 1):
        loops = part_boundary_loops(faces, labels == k)
        apexes = torch.stack([x[torch.as_tensor(lp)].mean(0) for lp in loops])
        caps = [np.stack([np.full(len(lp), V + j), np.roll(lp, -1), lp], 1) for j, lp in enumerate(loops)]
        tri = torch.as_tensor(np.concatenate([faces[labels == k], *caps]))
        allowed = col.allowed[:, k]
        w = winding_numbers(x[None, allowed], torch.cat([x, apexes])[None], tri)[0]
        enclosed[allowed] |= torch.round(w) >= 1
    return enclosed


def _reference_layers(model: HandModel, x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """(b) by brute force: layers of the whole mesh around vertices x[idx], its winding number there (every
    triangle) less the interior solid-angle fraction of the vertex's own one-ring cone."""
    faces = pn.collider_for(model).faces_closed
    w = winding_numbers(x[None, idx], x[None], faces)[0]
    rings = torch.as_tensor(ordered_one_rings(faces.numpy(), x.shape[0]))[idx]
    valid = rings >= 0
    u = torch.nn.functional.normalize(x[rings.clamp(min=0)] - x[idx, None], dim=-1)
    un = torch.where(valid.roll(-1, 1)[..., None], u.roll(-1, 1), u[:, :1])
    ref = torch.nn.functional.normalize((torch.cross(u, un, dim=-1) * valid[..., None]).sum(1), dim=-1)
    area = (solid_angles(ref[:, None].expand_as(u), u, un) * valid).sum(1)
    return torch.round(w - (1 - torch.remainder(area, 4 * math.pi) / (4 * math.pi)))


@pytest.mark.parametrize("side", ["right", "left"])
def test_inside_test_matches_a_brute_force_reference(side, right, left):
    # The fast path (shared bounds, 13-DOP culling in float32, chunked float32 sums with float64 rechecks)
    # gives exactly the brute-force result, here on curled and penetrating poses of both hands.
    model = right if side == "right" else left
    fist = {j: a for f in (0, 3, 6, 9) for j, a in zip((f, f + 1, f + 2), (90.0, 100.0, 80.0), strict=True)}
    g = torch.Generator().manual_seed(5)
    poses = [_pose(model, fist), _thumb_into_palm(model), _loose_fist(model) + 0.1 * torch.randn(1, 15, 3, generator=g)]
    for pose in poses:
        verts = _verts(model, pose)
        pen = pn.self_penetration(verts.double(), model)
        x = verts[0].double()
        idx = torch.nonzero(_reference_enclosed(model, x))[:, 0]
        expected = torch.zeros_like(pen.inside[0])
        expected[idx] = _reference_layers(model, x, idx) >= 1
        assert pen.inside.any() and torch.equal(pen.inside[0], expected)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu(right):
    verts = _verts(right, _index_through_palm(right))
    cpu = pn.self_penetration(verts, right)
    gpu = pn.self_penetration(verts.cuda(), right)
    assert torch.equal(gpu.inside.cpu(), cpu.inside)
    assert torch.allclose(gpu.distance.cpu(), cpu.distance, atol=1e-6)


# ---------------------------------------------------------------------------------------------------
# Two hands


def test_two_hands_overlapping_are_detected_and_apart_are_not(right, left):
    a = _verts(right)
    overlap = _verts(left, transl=torch.tensor([[0.0, 0.0, 0.02]]))
    apart = _verts(left, transl=torch.tensor([[0.2, 0.0, 0.0]]))
    pen = pn.two_hand_penetration(a, overlap, right, left)
    assert pen.inside_a.any() and pen.inside_b.any()
    assert pn.two_hand_penetration_depth(a, overlap, right, left).item() > 0.01
    far = pn.two_hand_penetration(a, apart, right, left)
    assert not far.inside_a.any() and not far.inside_b.any()
    assert pn.two_hand_penetration_loss(a, apart, right, left).item() == 0.0
    assert pn.two_hand_penetration_depth(a, apart, right, left).item() == 0.0


def test_two_hand_inside_test_and_distances_are_exact(right):
    a = _verts(right)
    b = _verts(right, transl=torch.tensor([[0.02, 0.0, 0.0]]))
    pen = pn.two_hand_penetration(a, b, right, right)
    w = winding_numbers(a, b, right.faces_closed)
    assert torch.equal(pen.inside_a, w > 0.5)
    idx = torch.nonzero(pen.inside_a[0])[:, 0]
    tri = b[0, right.faces_closed]  # (F, 3, 3)
    p = a[0, idx][:, None].expand(-1, tri.shape[0], -1)
    q = closest_points_on_triangles(p, tri[None, :, 0], tri[None, :, 1], tri[None, :, 2])
    brute = (q - p).norm(dim=-1).min(1).values
    assert torch.allclose(pen.distance_a[0, idx], brute, atol=1e-7)


def test_two_hand_gradient_separates_the_hands(right, left):
    a = _verts(right)
    shift = torch.tensor([[0.0, 0.0, 0.02]], requires_grad=True)
    loss = pn.two_hand_penetration_loss(a, _verts(left) + shift[:, None], right, left)
    loss.backward()
    assert loss.item() > 0 and shift.grad[0, 2] < 0  # moving b further along +z reduces the overlap
    moved = _verts(left) + (shift.detach() - 0.005 * shift.grad / shift.grad.norm())[:, None]
    assert pn.two_hand_penetration_loss(a, moved, right, left).item() < loss.item()


def test_two_hand_reductions_and_batch(right, left):
    a = torch.cat([_verts(right), _verts(right)])
    near, far = torch.tensor([[0.0, 0.0, 0.02]]), torch.tensor([[0.3, 0.0, 0.0]])
    b = torch.cat([_verts(left, transl=near), _verts(left, transl=far)])
    per = pn.two_hand_penetration_loss(a, b, right, left, reduction="none")
    assert per.shape == (2,) and per[0] > 0 and per[1] == 0
    assert torch.allclose(pn.two_hand_penetration_loss(a, b, right, left), per.mean())
    with pytest.raises(ValueError, match="batch"):
        pn.two_hand_penetration(a, b[:1], right, left)


def test_part_labels_are_connected(right):
    labels = pn.hand_part_labels(right.faces_closed.numpy(), right.lbs_weights.double().numpy())
    assert labels.shape == (right.faces_closed.shape[0],)
    assert set(np.unique(labels).tolist()) == set(range(16))
