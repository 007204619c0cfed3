"""Soft rasterizer (SoftRas): values against a dense reference, gradients, and the sigma -> 0 limit."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from handrecon.geometry.camera import PerspectiveCamera, WeakPerspectiveCamera, intrinsics
from handrecon.geometry.mesh import plane_grid, uv_sphere
from handrecon.render.interpolate import face_corner_attributes
from handrecon.render.rasterize import rasterize, to_screen
from handrecon.render.soft import soft_rasterize, soft_rasterize_screen, soft_silhouette


def _dense_reference(xy, z, faces, corner_colors, H, W, sigma, gamma, eps, znear, zfar, background, perspective):
    """SoftRas evaluated for every pixel and every face, straight from the formulas (float64 numpy)."""
    xy, z, faces, cc = (np.asarray(t, dtype=np.float64) if t.dtype.is_floating_point else t.numpy() for t in
                        (xy, z, faces, corner_colors))  # fmt: skip
    ys, xs = np.mgrid[0:H, 0:W]
    p = np.stack([xs + 0.5, ys + 0.5], -1).reshape(-1, 1, 2)  # (P, 1, 2)
    tri = xy[faces]  # (F, 3, 2)
    d2 = np.full((p.shape[0], len(faces)), np.inf)
    for k in range(3):
        a, b = tri[:, k], tri[:, (k + 1) % 3]
        e = b - a
        t = np.clip(((p - a) * e).sum(-1) / (e * e).sum(-1), 0, 1)
        d2 = np.minimum(d2, ((p - a - t[..., None] * e) ** 2).sum(-1))
    area = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    w = np.stack([np.cross(tri[:, (k + 1) % 3] - p, tri[:, (k + 2) % 3] - p) / area for k in range(3)], -1)
    inside = (w >= 0).all(-1)
    D = 1 / (1 + np.exp(-np.where(inside, d2, -d2) / sigma))
    alpha = 1 - np.prod(1 - D, axis=1)
    wc = np.clip(w, 0, 1)
    wc = wc / wc.sum(-1, keepdims=True)
    tz = z[faces]
    if perspective:
        t = wc / tz
        bary, depth = t / t.sum(-1, keepdims=True), 1 / t.sum(-1)
    else:
        bary, depth = wc, (wc * tz).sum(-1)
    colour = (bary[..., None] * cc[None]).sum(2)  # (P, F, C)
    logits = np.concatenate([np.log(D) + (zfar - depth) / (zfar - znear) / gamma, np.full((len(D), 1), eps / gamma)], 1)
    wts = np.exp(logits - logits.max(1, keepdims=True))
    wts /= wts.sum(1, keepdims=True)
    rgb = (wts[:, :-1, None] * colour).sum(1) + wts[:, -1:] * background
    return alpha.reshape(H, W), rgb.reshape(H, W, -1)


@pytest.mark.parametrize("perspective", [True, False])
def test_soft_raster_matches_dense_reference(perspective):
    torch.manual_seed(0)
    H, W = 20, 24
    xy = torch.tensor([[[3.2, 2.9], [19.7, 5.1], [8.3, 17.6], [12.1, 8.2], [22.4, 16.3], [4.9, 14.4]]]).double()
    z = torch.tensor([[1.0, 1.4, 1.2, 0.9, 1.6, 1.1]]).double()
    faces = torch.tensor([[0, 1, 2], [3, 5, 4]])
    colors = torch.rand(2, 3, 3, dtype=torch.float64)
    sigma, gamma, eps, bg = 1.5, 0.05, 1e-3, 0.3
    out = soft_rasterize_screen(
        xy, z, faces, H, W, perspective, corner_attrs=colors, sigma=sigma, gamma=gamma, eps=eps,
        depth_range=(0.5, 2.0), background=bg, min_prob=1e-12,
    )  # fmt: skip
    alpha, rgb = _dense_reference(xy[0], z[0], faces, colors, H, W, sigma, gamma, eps, 0.5, 2.0, bg, perspective)
    np.testing.assert_allclose(out.alpha[0].numpy(), alpha, atol=1e-10)
    np.testing.assert_allclose(out.features[0].numpy(), rgb, atol=1e-8)
    assert 0.05 < alpha.mean() < 0.95 and np.ptp(rgb) > 0.2


def test_probability_of_a_single_face_is_a_sigmoid_of_the_squared_distance():
    xy = torch.tensor([[[4.0, 10.0], [36.0, 10.0], [20.0, 30.0]]]).double()
    sigma = 4.0
    alpha = soft_rasterize_screen(xy, torch.ones(1, 3).double(), torch.tensor([[0, 1, 2]]), 32, 40, False,
                                  sigma=sigma, min_prob=1e-9).alpha[0]  # fmt: skip
    # (20, 8): centre 1.5 px above the top edge; (20, 12): inside, 2.5 px below it (other edges farther).
    assert float(alpha[8, 20]) == pytest.approx(1 / (1 + np.exp(2.25 / sigma)), rel=1e-12)
    assert float(alpha[12, 20]) == pytest.approx(1 / (1 + np.exp(-6.25 / sigma)), rel=1e-12)
    assert float(alpha[0, 0]) < 1e-9


def _small_scene(dtype=torch.float64):
    verts = torch.tensor(
        [[[-0.4, -0.3, 1.0], [0.5, -0.2, 1.3], [-0.1, 0.45, 0.8], [0.0, -0.5, 1.1], [0.45, 0.3, 0.9]]], dtype=dtype
    )
    faces = torch.tensor([[0, 1, 2], [3, 4, 2]])
    camera = PerspectiveCamera(intrinsics(14.0, 14.0, 8.0, 7.0, dtype=dtype), 16, 14)
    return verts, faces, camera


def test_silhouette_gradients_match_finite_differences():
    verts, faces, camera = _small_scene()
    weights = torch.rand(1, 14, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(0))

    def f(v):
        return (soft_silhouette(v, faces, camera, sigma=2.0, min_prob=1e-14) * weights).sum()

    assert torch.autograd.gradcheck(f, (verts.clone().requires_grad_(True),), eps=1e-6, atol=1e-7)
    v = verts.clone().requires_grad_(True)
    f(v).backward()
    assert float(v.grad.abs().min()) > 0  # every vertex moves the outline


def test_colour_gradients_match_finite_differences():
    verts, faces, camera = _small_scene()
    colors = torch.rand(5, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    weights = torch.rand(1, 14, 16, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(2))

    def f(v, c):
        out = soft_rasterize(v, faces, camera, corner_attrs=face_corner_attributes(c, faces), sigma=2.0,
                             gamma=0.1, min_prob=1e-14, depth_range=(0.5, 1.5))  # fmt: skip
        return (out.features * weights).sum() + out.alpha.sum()

    inputs = (verts.clone().requires_grad_(True), colors.clone().requires_grad_(True))
    assert torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-6)


@pytest.mark.parametrize("camera_kind", ["perspective", "weak"])
def test_soft_silhouette_tends_to_the_hard_mask_as_sigma_vanishes(camera_kind):
    sphere, faces, _, _ = uv_sphere(12, 16)
    verts = (sphere * torch.tensor([0.3, 0.4, 0.3]) + torch.tensor([0.0137, -0.0071, 1.0]))[None].double()
    if camera_kind == "perspective":
        camera = PerspectiveCamera(intrinsics(60.0, 60.0, 24.0, 24.0, dtype=torch.float64), 48, 48)
    else:
        camera = WeakPerspectiveCamera(torch.tensor([55.0]).double(), torch.tensor([[24.0, 24.0]]).double(), 48, 48)
    hard = rasterize(verts, faces, camera).mask[0].double()
    errors = [float((soft_silhouette(verts, faces, camera, sigma=s)[0] - hard).abs().mean()) for s in
              (1.0, 0.1, 0.01, 1e-4)]  # fmt: skip
    assert all(a > b for a, b in zip(errors, errors[1:], strict=False))
    assert errors[0] > 0.01 and errors[-1] < 1e-3


def test_nearest_face_dominates_the_colour_for_small_gamma():
    v, f, _ = plane_grid(1, 1, width=1.0, height=1.0)
    verts = torch.cat([v + torch.tensor([0.0, 0.0, 1.0]), v + torch.tensor([0.2, 0.1, 1.5])])[None]
    faces = torch.cat([f, f + 4])
    colors = torch.cat([torch.tensor([1.0, 0.0, 0.0]).expand(4, 3), torch.tensor([0.0, 0.0, 1.0]).expand(4, 3)])
    camera = WeakPerspectiveCamera(torch.tensor([20.0]), torch.tensor([[16.0, 16.0]]), 32, 32)
    out = soft_rasterize(verts, faces, camera, corner_attrs=face_corner_attributes(colors, faces), gamma=1e-3)
    xy, _ = to_screen(verts, camera)
    # A pixel inside both squares, several pixels from every edge.
    torch.testing.assert_close(out.features[0, 15, 16], torch.tensor([1.0, 0.0, 0.0]), atol=1e-3, rtol=0)
    # A pixel covered by the far square only, 3.5 px from the near one, shows blue.
    assert float(xy[0, 3, 0]) == 26 and float(xy[0, 7, 0]) == 30
    torch.testing.assert_close(out.features[0, 20, 29], torch.tensor([0.0, 0.0, 1.0]), atol=1e-3, rtol=0)


def test_chunked_pairs_give_the_same_result():
    verts, faces, camera = _small_scene(torch.float32)
    a = soft_silhouette(verts, faces, camera, sigma=2.0)
    b = soft_silhouette(verts, faces, camera, sigma=2.0, max_pairs=7)
    torch.testing.assert_close(a, b)
