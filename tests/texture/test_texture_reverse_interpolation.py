"""Visible vertices from the z-buffer, reverse interpolation (AMVUR eq. 11) and diffusion to occluded vertices."""

from __future__ import annotations

import pytest
import torch

from handrecon.geometry.camera import PerspectiveCamera, WeakPerspectiveCamera, intrinsics
from handrecon.geometry.mesh import plane_grid
from handrecon.render.rasterize import rasterize, to_screen
from handrecon.texture import harmonic_fill, reverse_interpolate, visible_faces, visible_vertices

H, W = 48, 64


def _front_and_back_planes(dtype=torch.float64):
    """A small front plane (4x4 cells of several pixels) hiding the middle of a large back plane (12x12 cells)."""
    vb, f, _ = plane_grid(12, 12, width=1.2, height=0.9, dtype=dtype)
    vf, ff, _ = plane_grid(4, 4, width=0.45, height=0.35, dtype=dtype)
    back = vb + torch.tensor([0.0, 0.0, 2.0], dtype=dtype)
    front = vf + torch.tensor([0.03, -0.02, 1.5], dtype=dtype)
    verts = torch.cat([back, front])[None]
    faces = torch.cat([f, ff + vb.shape[0]])
    return verts, faces, vb.shape[0]


def _cameras(dtype=torch.float64):
    return {
        "perspective": PerspectiveCamera(intrinsics(100.0, 100.0, W / 2, H / 2, dtype=dtype), W, H),
        "weak": WeakPerspectiveCamera(
            torch.tensor([48.0], dtype=dtype), torch.tensor([[W / 2, H / 2]], dtype=dtype), W, H
        ),
    }


@pytest.mark.parametrize("camera_kind", ["perspective", "weak"])
def test_occluded_vertices_are_not_visible(camera_kind):
    verts, faces, n_back = _front_and_back_planes()
    camera = _cameras()[camera_kind]
    frags = rasterize(verts, faces, camera)
    vis = visible_vertices(frags, faces, verts.shape[1])[0]
    assert bool(vis[n_back:].all())  # the front plane is fully visible
    # Back vertices whose projection lies well inside the front plane's projection are hidden.
    xy, _ = to_screen(verts, camera)
    lo, hi = xy[0, n_back:].amin(0), xy[0, n_back:].amax(0)
    cell = (xy[0, 1] - xy[0, 0]).norm()
    deep = ((xy[0, :n_back] > lo + cell) & (xy[0, :n_back] < hi - cell)).all(-1)
    assert deep.sum() >= 4 and not bool(vis[:n_back][deep].any())
    # Back vertices outside the front plane's projection are seen.
    outside = ((xy[0, :n_back] < lo - cell) | (xy[0, :n_back] > hi + cell)).any(-1)
    outside &= ((xy[0, :n_back] > 0) & (xy[0, :n_back] < torch.tensor([W, H]))).all(-1)
    assert outside.sum() > 20 and bool(vis[:n_back][outside].all())
    vf = visible_faces(frags, faces.shape[0])[0]
    assert bool(vf[frags.face_idx[0][frags.mask[0]]].all()) and int(vf.sum()) == len(frags.face_idx[0].unique()) - 1


@pytest.mark.parametrize("camera_kind", ["perspective", "weak"])
def test_reverse_interpolation_reads_the_image_at_projected_vertices(camera_kind):
    verts, faces, n_back = _front_and_back_planes()
    camera = _cameras()[camera_kind]
    # A linear image is reproduced exactly by bilinear sampling (away from the border).
    ys, xs = torch.meshgrid(torch.arange(H).double() + 0.5, torch.arange(W).double() + 0.5, indexing="ij")
    image = torch.stack([0.01 * xs + 0.02 * ys, 0.5 - 0.004 * xs + 0.001 * ys])[None]
    samples = reverse_interpolate(image, verts, faces, camera, fill=False)
    xy, _ = to_screen(verts, camera)
    expected = torch.stack([0.01 * xy[..., 0] + 0.02 * xy[..., 1], 0.5 - 0.004 * xy[..., 0] + 0.001 * xy[..., 1]], -1)
    interior = ((xy > 0.5) & (xy < torch.tensor([W - 0.5, H - 0.5]).double())).all(-1) & samples.visible
    assert interior.sum() > 150
    torch.testing.assert_close(samples.values[interior], expected[interior])
    assert bool((samples.values[~samples.visible] == 0).all())
    # A half-resolution feature map of the same linear function gives the same values.
    half = torch.nn.functional.avg_pool2d(image, 2)
    torch.testing.assert_close(reverse_interpolate(half, verts, faces, camera, fill=False).values[interior],
                               expected[interior], atol=0.02, rtol=0)  # fmt: skip


def test_diffusion_fills_occluded_vertices_with_the_harmonic_extension():
    # The weak camera maps the plane affinely to pixels, so a linear image gives vertex values linear in
    # the grid coordinates; on this regular grid the uniform Laplacian of a linear function vanishes, so
    # the harmonic fill of the hidden back vertices must reproduce the linear function exactly.
    verts, faces, n_back = _front_and_back_planes()
    camera = _cameras()["weak"]
    ys, xs = torch.meshgrid(torch.arange(H).double() + 0.5, torch.arange(W).double() + 0.5, indexing="ij")
    image = (0.3 + 0.01 * xs - 0.005 * ys)[None, None]
    samples = reverse_interpolate(image, verts, faces, camera, fill=True)
    xy, _ = to_screen(verts, camera)
    expected = 0.3 + 0.01 * xy[..., 0] - 0.005 * xy[..., 1]
    hidden = ~samples.visible[0, :n_back]
    assert hidden.sum() >= 4
    torch.testing.assert_close(samples.values[0, :n_back, 0], expected[0, :n_back])
    # Without fill the hidden values are zero: the fill did the work.
    raw = reverse_interpolate(image, verts, faces, camera, fill=False)
    assert float(raw.values[0, :n_back][hidden].abs().max()) == 0.0


def test_harmonic_fill_keeps_known_values_and_is_differentiable():
    v, f, _ = plane_grid(4, 3, dtype=torch.float64)
    faces = torch.cat([f, torch.tensor([[20, 21, 22]])])  # a separate triangle with nothing known
    V = v.shape[0] + 3
    torch.manual_seed(0)
    values = torch.rand(2, V, 2, dtype=torch.float64)
    known = torch.rand(2, V) < 0.4
    known[:, 20:] = False
    known[:, 0] = True
    out = harmonic_fill(values, known, faces)
    torch.testing.assert_close(out[known], values[known])
    for b in range(2):  # unknown grid vertices are the average of their neighbours
        adj = torch.zeros(V, V, dtype=torch.float64)
        for a_, b_ in ((0, 1), (1, 2), (2, 0)):
            adj[faces[:, a_], faces[:, b_]] = 1
            adj[faces[:, b_], faces[:, a_]] = 1
        avg = (adj @ out[b]) / adj.sum(1, keepdim=True)
        free = ~known[b]
        free[20:] = False
        torch.testing.assert_close(out[b][free], avg[free])
        torch.testing.assert_close(out[b, 20:], values[b][known[b]].mean(0).expand(3, 2))
    assert torch.autograd.gradcheck(lambda x: harmonic_fill(x, known, faces), (values.clone().requires_grad_(True),))


def test_reverse_interpolation_gradients_reach_the_feature_map_and_vertices():
    verts, faces, _ = _front_and_back_planes()
    camera = _cameras()["perspective"]
    image = torch.rand(1, 3, H, W, dtype=torch.float64, requires_grad=True)
    v = verts.clone().requires_grad_(True)
    reverse_interpolate(image, v, faces, camera).values.sum().backward()
    assert float(image.grad.abs().sum()) > 0 and float(v.grad.abs().sum()) > 0
