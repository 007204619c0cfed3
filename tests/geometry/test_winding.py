"""Generalized winding numbers: known values on closed meshes, agreement with the plain solid-angle sum,
and the part-by-part evaluation of `ClosedParts` against the plain sum."""

import math

import numpy as np
import pytest
import torch

from handrecon.geometry.closed_parts import ClosedParts
from handrecon.geometry.mesh import uv_sphere
from handrecon.geometry.winding import inside, solid_angles, winding_numbers

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _cube() -> tuple[torch.Tensor, torch.Tensor]:
    """Unit cube whose faces are fans of 4 triangles around a vertex at the face centre (outward, closed)."""
    corners = [[x, y, z] for x in (0.0, 1.0) for y in (0.0, 1.0) for z in (0.0, 1.0)]  # index 4x + 2y + z
    quads = [[0, 1, 3, 2], [4, 6, 7, 5], [0, 4, 5, 1], [2, 3, 7, 6], [0, 2, 6, 4], [1, 5, 7, 3]]  # outward
    verts, faces = list(corners), []
    for quad in quads:
        verts.append(np.mean([corners[i] for i in quad], 0).tolist())
        c = len(verts) - 1
        faces += [[c, quad[i], quad[(i + 1) % 4]] for i in range(4)]
    return torch.tensor(verts, dtype=torch.float64), torch.tensor(faces)


CUBE_V, CUBE_F = _cube()


def _sphere(n_lat: int = 16, n_lon: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    v, f, _, _ = uv_sphere(n_lat, n_lon, dtype=torch.float64)
    return v, f


def _reference(points: torch.Tensor, vertices: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """Plain sum of `solid_angles` over all triangles (B, N)."""
    tri = vertices[:, faces]  # (B, F, 3, 3)
    d = tri[:, None] - points[:, :, None, None]
    return solid_angles(d[..., 0, :], d[..., 1, :], d[..., 2, :]).sum(-1) / (4 * math.pi)


def test_solid_angle_of_an_octant_and_orientation():
    # The triangle with corners on the three axes covers one octant: 4 pi / 8, positive seen from the origin
    # when it winds counter-clockwise seen from outside.
    a, b, c = torch.eye(3, dtype=torch.float64).unbind(0)
    assert solid_angles(a, b, c).item() == pytest.approx(math.pi / 2)
    assert solid_angles(a, c, b).item() == pytest.approx(-math.pi / 2)
    assert solid_angles(torch.zeros(3), b, c).item() == 0.0  # a corner at the query point


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_sphere_inside_outside_and_surface(device, dtype):
    v, f = _sphere()
    g = torch.Generator().manual_seed(0)
    dirs = torch.nn.functional.normalize(torch.randn(1, 200, 3, generator=g, dtype=torch.float64), dim=-1)
    radii = torch.cat([torch.full((100,), 0.9), torch.full((100,), 1.1)]).to(torch.float64)
    pts = (dirs * radii[None, :, None]).to(device=device, dtype=dtype)
    w = winding_numbers(pts, v[None].to(device=device, dtype=dtype), f.to(device))
    assert w.dtype == torch.float64 and w.shape == (1, 200)
    assert torch.allclose(w[0, :100].cpu(), torch.ones(100, dtype=torch.float64), atol=1e-6)
    assert torch.allclose(w[0, 100:].cpu(), torch.zeros(100, dtype=torch.float64), atol=1e-6)
    # On the surface, at the mesh's own vertices (where the triangles around the point count 0), the
    # winding number is the solid-angle fraction inside the mesh there: just below 1/2 on a fine sphere
    # (a convex polyhedral corner; the gap shrinks like the edge length).
    fine_v, fine_f = _sphere(40, 80)
    on = winding_numbers(fine_v[None, 100:3000:97].to(device=device, dtype=dtype), fine_v[None].to(device), fine_f)
    assert ((on > 0.47) & (on < 0.5)).all()


def test_cube_values_inside_outside_and_at_corners():
    pts = torch.tensor([[[0.5, 0.5, 0.5], [0.01, 0.99, 0.5], [1.5, 0.5, 0.5], [-0.01, 0.5, 0.5], [2.0, 2.0, 2.0]]])
    w = winding_numbers(pts.double(), CUBE_V[None], CUBE_F)
    assert torch.allclose(w, torch.tensor([[1.0, 1.0, 0.0, 0.0, 0.0]], dtype=torch.float64), atol=1e-5)
    assert inside(pts.double(), CUBE_V[None], CUBE_F).tolist() == [[True, True, False, False, False]]
    # On the surface: 1/2 in the middle of a face, 1/8 at a corner (a vertex sees the triangles around it
    # edge-on, so they count 0 and the rest gives the solid-angle fraction inside the cube).
    w_on = winding_numbers(CUBE_V[None], CUBE_V[None], CUBE_F)[0]
    assert torch.allclose(w_on[:8], torch.full((8,), 0.125, dtype=torch.float64), atol=1e-5)
    assert torch.allclose(w_on[8:], torch.full((6,), 0.5, dtype=torch.float64), atol=1e-5)
    # Reversing the faces (an inside-out mesh) flips the sign.
    assert winding_numbers(pts[:, :1].double(), CUBE_V[None], CUBE_F[:, [0, 2, 1]]).item() == pytest.approx(-1.0)


def test_self_intersecting_union_counts_overlap_twice():
    v1, f = _sphere(8, 16)
    v = torch.cat([v1, v1 + torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64)])[None]
    faces = torch.cat([f, f + v1.shape[0]])
    pts = torch.tensor([[[0.5, 0.0, 0.0], [-0.5, 0.0, 0.0], [1.7, 0.0, 0.0], [3.0, 0.0, 0.0]]], dtype=torch.float64)
    assert torch.allclose(winding_numbers(pts, v, faces), torch.tensor([[2.0, 1.0, 1.0, 0.0]], dtype=torch.float64))


def test_matches_plain_sum_near_the_surface_and_batched():
    v, f = _sphere(10, 20)
    g = torch.Generator().manual_seed(1)
    verts = torch.stack([v, v * torch.tensor([1.0, 0.5, 2.0], dtype=torch.float64)])
    # Points within a micrometre to a millimetre of the surface, both sides, where rounding is hardest.
    idx = torch.randint(0, f.shape[0], (2, 300), generator=g)
    centroid = verts[torch.arange(2)[:, None, None], f[idx]].mean(2)
    normal = torch.nn.functional.normalize(torch.randn(2, 300, 3, generator=g, dtype=torch.float64), dim=-1)
    offset = 10 ** torch.empty(2, 300, 1, dtype=torch.float64).uniform_(-6, -3, generator=g)
    pts = centroid + normal * offset
    got = winding_numbers(pts, verts, f)
    assert torch.allclose(got, _reference(pts, verts, f), atol=1e-4)
    assert torch.equal(torch.round(got), torch.round(_reference(pts, verts, f)))
    assert set(torch.round(got).unique().tolist()) <= {0.0, 1.0}


def _octant_parts(v: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    c = v[f].mean(1)
    return (c[:, 0] > 0).long() + 2 * (c[:, 1] > 0).long() + 4 * (c[:, 2] > 0).long()


def test_closed_parts_are_closed_and_sum_to_the_mesh():
    v, f = _sphere(12, 24)
    parts = ClosedParts(f, _octant_parts(v, f))
    assert parts.num_parts == 8
    g = torch.Generator().manual_seed(2)
    pts = torch.rand(1, 400, 3, generator=g, dtype=torch.float64) * 2.4 - 1.2
    # Every part closed by its cap is a closed surface: integer winding numbers everywhere.
    per_part = parts.part_winding_numbers(pts, v[None])
    assert set(per_part.unique().tolist()) <= {0, 1}
    # An octant's cap is a fan from the centroid of its boundary, so the part holds the points near its own
    # patch of sphere but not the centre of the ball, which only the caps surface accounts for.
    diag = torch.tensor([[[0.95, 0.95, 0.95], [0.1, 0.1, 0.1]]], dtype=torch.float64) / math.sqrt(3)
    assert parts.part_winding_numbers(diag, v[None])[0].tolist() == [[0] * 7 + [1], [0] * 8]
    assert torch.allclose(parts.winding_numbers(diag, v[None]), torch.ones(1, 2, dtype=torch.float64), atol=1e-5)
    whole = parts.winding_numbers(pts, v[None])
    assert torch.allclose(whole, _reference(pts, v[None], f), atol=1e-4)


def test_closed_parts_on_deformed_mesh_and_allowed_mask():
    v, f = _sphere(12, 24)
    parts = ClosedParts(f, _octant_parts(v, f))
    bent = v.clone()
    bent[:, 0] += 0.6 * bent[:, 1] ** 2  # bend: the parts move and deform, the caps follow
    pts = torch.tensor([[[0.0, 0.0, 0.0], [1.3, 0.9, 0.1], [3.0, 0.0, 0.0]]], dtype=torch.float64)
    whole = parts.winding_numbers(pts, bent[None])
    assert torch.allclose(whole, _reference(pts, bent[None], f), atol=1e-4)
    allowed = torch.ones(3, 8, dtype=torch.bool)
    allowed[0] = False
    assert parts.part_winding_numbers(pts, bent[None], allowed)[0, 0].abs().sum() == 0


def test_closed_parts_need_a_closed_mesh():
    v, f = _sphere(6, 8)
    with pytest.raises(ValueError, match="closed"):
        ClosedParts(f[1:], torch.zeros(f.shape[0] - 1, dtype=torch.long))


def test_vertex_sheets_count_the_layers_around_a_vertex():
    # Two unit spheres, the second one shifted so that it swallows part of the first.
    v1, f = _sphere(10, 20)
    shift = torch.tensor([1.2, 0.0, 0.0], dtype=torch.float64)
    v = torch.cat([v1, v1 + shift])[None]
    faces = torch.cat([f, f + v1.shape[0]])
    labels = torch.cat([torch.zeros(f.shape[0]), torch.ones(f.shape[0])]).long()
    parts = ClosedParts(faces.numpy(), labels.numpy())
    mask = torch.ones(1, v.shape[1], dtype=torch.bool)
    sheets = parts.vertex_sheets(v, mask)[0]
    # Distance of each vertex to the centre of the other sphere: inside it when below 1.
    r_other = (v[0] - torch.cat([shift.expand_as(v1), torch.zeros_like(v1)])).norm(dim=-1)
    clear = (r_other - 1).abs() > 0.05
    assert torch.equal(sheets[clear], (r_other < 1).int()[clear])
    assert 0 < (sheets == 1).sum() < v.shape[1] and sheets.min() == 0


def test_empty_query():
    v, f = _sphere(6, 8)
    assert winding_numbers(torch.zeros(2, 0, 3), v[None].expand(2, -1, -1), f).shape == (2, 0)


def test_numpy_labels_and_face_counts():
    v, f = _sphere(6, 8)
    parts = ClosedParts(f.numpy(), np.zeros(f.shape[0], dtype=np.int64))
    assert parts.num_parts == 1 and parts.part_winding_numbers(torch.zeros(1, 1, 3), v[None]).item() == 1


def test_points_a_nanometre_from_the_surface_are_on_the_right_side():
    # Far below float32 resolution (1e-7 of the sphere's size): the float64 re-evaluation decides.
    v, f = _sphere(10, 20)
    tri = v[f]
    centroid = tri.mean(1)
    normal = torch.nn.functional.normalize(torch.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0], dim=-1), dim=-1)
    pts = torch.cat([centroid - 1e-9 * normal, centroid + 1e-9 * normal])[None]
    w = winding_numbers(pts, v[None], f)[0]
    n = f.shape[0]
    assert torch.equal(torch.round(w), torch.cat([torch.ones(n), torch.zeros(n)]).double())
    parts = ClosedParts(f, _octant_parts(v, f))
    assert torch.equal(torch.round(parts.winding_numbers(pts, v[None])[0]), torch.round(w))


def test_closed_parts_far_from_the_origin_and_small():
    # Culling runs in float32 relative to the mesh's first vertex and each chunk is evaluated centred on
    # itself: a 1 cm sphere 30 m from the origin keeps every point (a micrometre from the surface, both sides)
    # on the right side.
    v, f = _sphere(12, 24)
    small = v * 0.005 + torch.tensor([30.0, -20.0, 10.0], dtype=torch.float64)
    parts = ClosedParts(f, _octant_parts(v, f))
    tri = small[f]
    centroid = tri.mean(1)
    normal = torch.nn.functional.normalize(torch.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0], dim=-1), dim=-1)
    g = torch.Generator().manual_seed(3)
    pts = torch.cat(
        [centroid - 1e-6 * normal, centroid + 1e-6 * normal, small[0] + 0.02 * torch.rand(300, 3, generator=g) - 0.01]
    )[None]
    got = parts.winding_numbers(pts, small[None])
    assert torch.equal(torch.round(got), torch.round(_reference(pts, small[None], f)))
    assert set(torch.round(got).unique().tolist()) <= {0.0, 1.0}


def _split_spheres() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Two fine spheres (far more triangles per part than one evaluation chunk), each split into three parts
    by longitude, so that the caps surface Z has two components, one per sphere."""
    v1, f1 = _sphere(40, 80)
    v = torch.cat([v1, v1 + torch.tensor([1.5, 0.0, 0.0], dtype=torch.float64)])
    f = torch.cat([f1, f1 + v1.shape[0]])
    c = v1[f1].mean(1)
    third = (torch.atan2(c[:, 2], c[:, 0]) + math.pi).div(2 * math.pi / 3).long().clamp(max=2)
    return v, f, torch.cat([third, third + 3])


def test_closed_parts_in_chunks_with_a_caps_surface_in_components():
    v, f, labels = _split_spheres()
    parts = ClosedParts(f, labels)
    assert parts.num_parts == 6 and parts.num_pieces == 8  # two components of Z
    assert parts.num_chunks > parts.num_pieces  # parts bigger than one chunk are evaluated in pieces
    g = torch.Generator().manual_seed(4)
    pts = torch.rand(1, 300, 3, generator=g, dtype=torch.float64) * torch.tensor([3.0, 2.4, 2.4]) - 1.2
    whole = parts.winding_numbers(pts, v[None])
    assert torch.allclose(whole, _reference(pts, v[None], f), atol=1e-4)
    # One pose, several queries: part winding numbers reused by the whole-mesh query give the same result.
    posed = parts.pose(v[None])
    per_part = posed.part_winding_numbers(pts)
    assert set(per_part.unique().tolist()) <= {0, 1}
    everything = torch.ones(pts.shape[1], 6, dtype=torch.bool)
    again = posed.winding_numbers(pts, known=per_part, known_parts=everything)
    assert torch.allclose(again, whole, atol=1e-4) and torch.equal(torch.round(again), torch.round(whole))
