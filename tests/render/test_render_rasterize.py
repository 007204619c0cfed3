"""Hard rasterizer: coverage, z-buffer, barycentrics, depth, gradients, chunking, cameras and dtypes."""

from __future__ import annotations

from fractions import Fraction

import pytest
import torch

from handrecon.geometry.camera import PerspectiveCamera, WeakPerspectiveCamera, intrinsics, project_points
from handrecon.geometry.mesh import plane_grid, uv_sphere
from handrecon.render.interpolate import interpolate_vertex_attributes
from handrecon.render.rasterize import barycentrics_at_pixels, rasterize, rasterize_screen, to_screen

H, W = 32, 40
# Exactly representable corners; every pixel centre is > 0.01 px away from the edge lines.
TRI_XY = [(3.28125, 2.609375), (35.28125, 8.921875), (11.28125, 29.421875)]


def _expected_coverage(tri: list[tuple[float, float]], height: int, width: int) -> torch.Tensor:
    """Pixel centres strictly inside the triangle, decided in exact rational arithmetic."""
    p = [(Fraction(x), Fraction(y)) for x, y in tri]

    def edge(a, b, c):
        return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])

    area = edge(*p)
    sides = [(p[1], p[2]), (p[2], p[0]), (p[0], p[1])]
    lengths2 = [(b[0] - a[0]) ** 2 + (b[1] - a[1]) ** 2 for a, b in sides]
    out = torch.zeros(height, width, dtype=torch.bool)
    for y in range(height):
        for x in range(width):
            c = (Fraction(2 * x + 1, 2), Fraction(2 * y + 1, 2))
            e = [edge(a, b, c) for a, b in sides]
            # squared distance to each edge line > 0.01^2: the expected set is insensitive to rounding
            assert all(v * v > Fraction(1, 10**4) * n for v, n in zip(e, lengths2, strict=True))
            out[y, x] = all(v * area > 0 for v in e)
    return out


def _perspective(f: float = 16.0, dtype=torch.float32) -> PerspectiveCamera:
    return PerspectiveCamera(intrinsics(f, f, 0.0, 0.0, dtype=dtype), W, H)


def _weak(scale: float = 16.0, dtype=torch.float32) -> WeakPerspectiveCamera:
    return WeakPerspectiveCamera(torch.tensor([scale], dtype=dtype), torch.zeros(1, 2, dtype=dtype), W, H)


@pytest.mark.parametrize("winding", [(0, 1, 2), (0, 2, 1)])
def test_single_triangle_covers_exactly_the_pixels_whose_centres_are_inside(winding):
    expected = _expected_coverage(TRI_XY, H, W)
    assert 100 < int(expected.sum()) < H * W - 100
    xy = torch.tensor([TRI_XY])
    frags = rasterize_screen(xy, torch.ones(1, 3), torch.tensor([winding]), H, W, perspective=False)
    assert torch.equal(frags.mask[0], expected)
    assert torch.equal(frags.face_idx[0][~expected], torch.full_like(frags.face_idx[0][~expected], -1))


@pytest.mark.parametrize("camera_kind", ["perspective", "weak"])
def test_single_triangle_through_each_camera(camera_kind):
    # Both cameras map (x, y, z=1) to (16 x, 16 y) pixels: the same exactly representable triangle.
    camera = _perspective() if camera_kind == "perspective" else _weak()
    verts = torch.tensor([[[x / 16, y / 16, 1.0] for x, y in TRI_XY]])
    frags = rasterize(verts, torch.tensor([[0, 1, 2]]), camera)
    assert torch.equal(frags.mask[0], _expected_coverage(TRI_XY, H, W))


def _two_squares(z_first: float, z_second: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Two overlapping squares (two faces each) at constant depths; the second is shifted right and down."""
    v, f, _ = plane_grid(1, 1, width=1.0, height=1.0)
    a = v + torch.tensor([0.9, 0.8, z_first])
    b = v + torch.tensor([1.3, 1.1, z_second])
    return torch.cat([a, b])[None], torch.cat([f, f + 4])


@pytest.mark.parametrize("camera_kind", ["perspective", "weak"])
@pytest.mark.parametrize("first_is_nearer", [True, False])
def test_nearer_of_two_overlapping_faces_wins(camera_kind, first_is_nearer):
    near, far = 1.0, 1.5
    verts, faces = _two_squares(near if first_is_nearer else far, far if first_is_nearer else near)
    camera = _perspective() if camera_kind == "perspective" else _weak()
    if camera_kind == "perspective":  # scale x, y with depth: the same screen footprint at both depths
        verts[..., :2] *= verts[..., 2:]
    frags = rasterize(verts, faces, camera)
    xy, _ = to_screen(verts, camera)
    cols = torch.arange(W) + 0.5
    rows = torch.arange(H) + 0.5
    in_a = (cols[None] > xy[0, 0, 0]) & (cols[None] < xy[0, 3, 0]) & (rows[:, None] > xy[0, 0, 1])
    in_a &= rows[:, None] < xy[0, 3, 1]
    in_b = (cols[None] > xy[0, 4, 0]) & (cols[None] < xy[0, 7, 0]) & (rows[:, None] > xy[0, 4, 1])
    in_b &= rows[:, None] < xy[0, 7, 1]
    both = in_a & in_b
    assert both.sum() > 20
    owner_is_first = frags.face_idx[0] < 2
    assert bool((owner_is_first[both] == first_is_nearer).all())
    torch.testing.assert_close(frags.depth[0][both], torch.full_like(frags.depth[0][both], near))
    assert torch.equal(frags.mask[0], in_a | in_b)


def test_interpenetrating_planes_show_the_lower_envelope():
    # Two tilted planes crossing in the middle: the visible depth is the minimum along each ray.
    camera = PerspectiveCamera(intrinsics(30.0, 30.0, W / 2, H / 2), W, H)
    v, f, _ = plane_grid(4, 4, width=2.0, height=2.0)
    a = v.clone()
    a[:, 2] = 1.0 + 0.3 * v[:, 0]
    b = v.clone()
    b[:, 2] = 1.0 - 0.3 * v[:, 0]
    frags = rasterize(torch.cat([a, b])[None], torch.cat([f, f + v.shape[0]]), camera)
    ys, xs = torch.nonzero(frags.mask[0], as_tuple=True)
    ray = torch.stack([(xs + 0.5 - W / 2) / 30.0, (ys + 0.5 - H / 2) / 30.0], -1)
    # Ray (rx t, ry t, t) meets z = 1 + k x at t = 1 / (1 - k rx).
    depth = torch.minimum(1 / (1 - 0.3 * ray[:, 0]), 1 / (1 + 0.3 * ray[:, 0]))
    torch.testing.assert_close(frags.depth[0][ys, xs], depth, rtol=1e-5, atol=1e-6)
    first = frags.face_idx[0][ys, xs] < f.shape[0]
    assert bool((first == (ray[:, 0] < 0)).all())


@pytest.mark.parametrize("camera_kind", ["perspective", "weak"])
def test_barycentrics_sum_to_one_and_interpolate_points_on_the_surface(camera_kind):
    torch.manual_seed(0)
    sphere, faces, _, _ = uv_sphere(10, 14)
    verts = (sphere * 0.3 + torch.tensor([0.05, -0.02, 1.0]))[None].double()
    if camera_kind == "perspective":
        camera = PerspectiveCamera(intrinsics(50.0, 55.0, 20.3, 15.8, dtype=torch.float64), W, H)
    else:
        camera = WeakPerspectiveCamera(torch.tensor([45.0]).double(), torch.tensor([[19.0, 16.5]]).double(), W, H)
    frags = rasterize(verts, faces, camera)
    m = frags.mask[0]
    assert m.sum() > 200
    torch.testing.assert_close(frags.bary[0][m].sum(-1), torch.ones(int(m.sum()), dtype=torch.float64))
    assert float(frags.bary[0][m].min()) > -1e-9
    # Interpolated 3D position projects back onto the pixel centre and has the z-buffer depth: this holds
    # only with perspective-correct barycentrics for the perspective camera.
    p = interpolate_vertex_attributes(frags, verts, faces)[0][m]
    xy, z = camera.project(p[None])
    ys, xs = torch.nonzero(m, as_tuple=True)
    torch.testing.assert_close(xy[0], torch.stack([xs, ys], -1).double() + 0.5)
    torch.testing.assert_close(z[0], frags.depth[0][m])
    # The visible point is the nearer intersection of the ray with the (convex) mesh: front-facing.
    assert float((p[:, 2] - 1.0).max()) < 0.3 * 0.2


def test_attribute_at_a_vertex_is_reproduced_exactly():
    # A triangle whose corners sit on pixel centres: there the barycentrics are one-hot.
    corners = [(4.5, 3.5), (30.5, 6.5), (9.5, 25.5)]
    xy = torch.tensor([corners], dtype=torch.float64)
    z = torch.tensor([[1.0, 2.0, 3.0]], dtype=torch.float64)
    attrs = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [0.25, 0.75]]], dtype=torch.float64)
    for perspective in (True, False):
        frags = rasterize_screen(xy, z, torch.tensor([[0, 1, 2]]), H, W, perspective=perspective)
        out = interpolate_vertex_attributes(frags, attrs, torch.tensor([[0, 1, 2]]))
        for k, (x, y) in enumerate(corners):
            assert int(frags.face_idx[0, int(y), int(x)]) == 0
            torch.testing.assert_close(out[0, int(y), int(x)], attrs[0, k])
            torch.testing.assert_close(frags.depth[0, int(y), int(x)], z[0, k])


def test_depth_of_a_tilted_plane_matches_ray_intersection():
    camera = PerspectiveCamera(intrinsics(40.0, 40.0, W / 2, H / 2, dtype=torch.float64), W, H)
    v, f, _ = plane_grid(2, 2, width=1.6, height=1.6)
    v = v.double()
    n = torch.tensor([0.3, -0.2, -1.0], dtype=torch.float64)  # plane n . p = d through (0, 0, 2)
    v[:, 2] = 2.0 - (n[0] * v[:, 0] + n[1] * v[:, 1]) / n[2]
    frags = rasterize(v[None], f, camera)
    ys, xs = torch.nonzero(frags.mask[0], as_tuple=True)
    ray = torch.stack([(xs + 0.5 - W / 2) / 40.0, (ys + 0.5 - H / 2) / 40.0, torch.ones_like(xs)], -1).double()
    t = (n @ torch.tensor([0.0, 0.0, 2.0], dtype=torch.float64)) / (ray @ n)
    torch.testing.assert_close(frags.depth[0][ys, xs], t)


@pytest.mark.parametrize("camera_kind", ["perspective", "weak"])
def test_barycentric_and_depth_gradients_match_finite_differences(camera_kind):
    torch.manual_seed(1)
    verts = torch.tensor([[[-0.4, -0.3, 1.0], [0.5, -0.2, 1.3], [-0.1, 0.45, 0.8]]], dtype=torch.float64)
    faces = torch.tensor([[0, 1, 2]])
    if camera_kind == "perspective":
        camera = PerspectiveCamera(intrinsics(30.0, 30.0, W / 2, H / 2, dtype=torch.float64), W, H)
    else:
        camera = WeakPerspectiveCamera(torch.tensor([30.0]).double(), torch.tensor([[W / 2, H / 2]]).double(), W, H)
    frags = rasterize(verts, faces, camera)
    # Fixed face assignment: differentiate the covered pixels' barycentrics and depth.
    weights = torch.randn(frags.fg_pixel.numel(), 4, dtype=torch.float64)

    def f(v):
        xy, z = to_screen(v, camera)
        bary, depth = barycentrics_at_pixels(
            xy, z, faces, frags.fg_batch, frags.fg_face, frags.fg_pixel, H, W, camera_kind == "perspective"
        )
        return (torch.cat([bary, depth[:, None]], -1) * weights).sum()

    v = verts.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(f, (v,), eps=1e-6, atol=1e-6)
    # rasterize() exposes the same differentiable quantities.
    v2 = verts.clone().requires_grad_(True)
    out = rasterize(v2, faces, camera)
    (torch.cat([out.fg_bary, out.fg_depth[:, None]], -1) * weights).sum().backward()
    v.grad = None
    f(v).backward()
    torch.testing.assert_close(v2.grad, v.grad)
    assert float(v2.grad.abs().sum()) > 0


def test_chunked_and_batched_rasterization_agree_with_single_pass():
    sphere, faces, _, _ = uv_sphere(12, 16)
    camera = PerspectiveCamera(intrinsics(50.0, 50.0, W / 2, H / 2), W, H)
    v1 = sphere * 0.35 + torch.tensor([0.0, 0.0, 1.0])
    v2 = sphere * torch.tensor([0.2, 0.4, 0.3]) + torch.tensor([0.1, 0.05, 1.2])
    ref1, ref2 = rasterize(v1[None], faces, camera), rasterize(v2[None], faces, camera)
    both = rasterize(torch.stack([v1, v2]), faces, camera, max_pairs=500)
    for b, ref in enumerate((ref1, ref2)):
        assert torch.equal(both.face_idx[b], ref.face_idx[0])
        torch.testing.assert_close(both.bary[b], ref.bary[0])
        torch.testing.assert_close(both.depth[b], ref.depth[0])


def test_backface_culling_and_near_plane():
    v, f, _ = plane_grid(2, 2, width=1.0, height=1.0)
    v = (v + torch.tensor([0.0, 0.0, 1.0]))[None]
    camera = PerspectiveCamera(intrinsics(20.0, 20.0, W / 2, H / 2), W, H)
    front = rasterize(v, f, camera, cull_backfaces=True)  # plane_grid faces point at the camera
    assert front.mask.sum() > 100
    back = rasterize(v, f[:, [0, 2, 1]], camera, cull_backfaces=True)
    assert back.mask.sum() == 0
    both = rasterize(v, f[:, [0, 2, 1]], camera)
    assert torch.equal(both.mask, front.mask)
    behind = v.clone()
    behind[..., 2] = -1.0
    assert rasterize(behind, f, camera).mask.sum() == 0


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_output_dtypes_and_empty_scene(dtype):
    camera = _weak(dtype=dtype)
    verts = torch.tensor([[[x / 16, y / 16, 1.0] for x, y in TRI_XY]], dtype=dtype)
    frags = rasterize(verts, torch.tensor([[0, 1, 2]]), camera)
    assert frags.bary.dtype == dtype and frags.depth.dtype == dtype and frags.face_idx.dtype == torch.long
    off = verts + torch.tensor([100.0, 0.0, 0.0], dtype=dtype)
    empty = rasterize(off, torch.tensor([[0, 1, 2]]), camera)
    assert empty.mask.sum() == 0 and empty.fg_pixel.numel() == 0


def test_bad_faces_are_rejected_with_a_message():
    verts = torch.zeros(1, 3, 3)
    with pytest.raises(ValueError, match="face indices"):
        rasterize(verts, torch.tensor([[0, 1, 3]]), _weak())


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    sphere, faces, _, _ = uv_sphere(12, 16)
    camera = PerspectiveCamera(intrinsics(50.0, 50.0, W / 2, H / 2), W, H)
    v = (sphere * 0.35 + torch.tensor([0.0, 0.0, 1.0]))[None]
    ref = rasterize(v, faces, camera)
    cam_gpu = PerspectiveCamera(camera.K.cuda(), W, H)
    out = rasterize(v.cuda(), faces.cuda(), cam_gpu)
    assert torch.equal(out.face_idx.cpu(), ref.face_idx)
    torch.testing.assert_close(out.bary.cpu(), ref.bary, rtol=1e-4, atol=1e-5)
    assert project_points(v.cuda(), cam_gpu.K).is_cuda
