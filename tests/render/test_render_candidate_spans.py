"""Per-row candidate spans: both rasterizers give exactly what they gave testing each face's whole bounding
box, on meshes made to break the spans (slivers, pixel centres on edges, faces off-screen or behind the
camera, edge-on faces, batches), while testing fewer pairs."""

from __future__ import annotations

import importlib

import pytest
import torch

from handrecon.geometry.camera import PerspectiveCamera, intrinsics
from handrecon.geometry.mesh import uv_sphere
from handrecon.render.rasterize import rasterize, rasterize_screen, to_screen
from handrecon.render.soft import soft_rasterize_screen

# The modules themselves (the package re-exports functions of the same names).
candidates = importlib.import_module("handrecon.render.candidates")
rasterize_module = importlib.import_module("handrecon.render.rasterize")
soft_module = importlib.import_module("handrecon.render.soft")

H, W = 48, 64


def _soup(dtype: torch.dtype, seed: int, batch: int = 3) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Screen-space triangle soups (xy (B, V, 2), z (B, V), faces) with every kind of awkward face."""
    g = torch.Generator().manual_seed(seed)
    tris = []
    n = 60
    # Ordinary faces, some reaching off-screen.
    tris.append(torch.rand(n, 3, 2, generator=g, dtype=torch.float64) * torch.tensor([W * 1.4, H * 1.4]) - 8)
    # Slivers: a long edge and a third corner a tiny distance off it.
    a = torch.rand(n, 2, generator=g, dtype=torch.float64) * torch.tensor([W, H])
    b = torch.rand(n, 2, generator=g, dtype=torch.float64) * torch.tensor([W, H])
    off = 10.0 ** -torch.randint(1, 7, (n, 1), generator=g).double()
    normal = torch.stack([a[:, 1] - b[:, 1], b[:, 0] - a[:, 0]], -1)
    along = torch.rand(n, 1, generator=g, dtype=torch.float64)
    c = a + along * (b - a) + off * normal / normal.norm(dim=-1, keepdim=True)
    tris.append(torch.stack([a, b, c], 1))
    # Corners on pixel centres and pixel corners: axis-aligned edges through rows and columns of centres.
    grid = torch.randint(0, 40, (n, 3, 2), generator=g).double() + 0.5 * torch.randint(0, 2, (n, 1, 1), generator=g)
    grid[: n // 2, 1, 1] = grid[: n // 2, 0, 1]  # horizontal edge
    grid[: n // 2, 2, 0] = grid[: n // 2, 0, 0]  # vertical edge
    tris.append(grid)
    # Degenerate (collinear, a point) and huge faces.
    line = torch.rand(8, 1, 2, generator=g, dtype=torch.float64) * 30
    tris.append(line + torch.tensor([[0.0, 0.0], [1.0, 2.0], [3.0, 6.0]]))
    tris.append(torch.rand(4, 1, 2, generator=g, dtype=torch.float64).expand(4, 3, 2) * 30)
    huge = [[[-1e6, -1e6], [1e6, 10.0], [20.0, 1e6]], [[-5e3, 3.0], [7e3, 4.0], [30.0, 40.5]]]
    tris.append(torch.tensor(huge, dtype=torch.float64))
    tri = torch.cat(tris)
    F = tri.shape[0]
    xy = tri.reshape(1, F * 3, 2).repeat(batch, 1, 1)
    xy = xy + torch.randn(batch, 1, 2, generator=g, dtype=torch.float64) * torch.arange(batch).view(batch, 1, 1)
    z = torch.rand(batch, F * 3, generator=g, dtype=torch.float64) * 2 + 0.5
    z[:, ::17] = -0.3  # some corners behind the camera
    z[:, 1::23] = 0.0005  # and some nearer than znear
    faces = torch.arange(F * 3).view(F, 3)
    return xy.to(dtype), z.to(dtype), faces


def _box_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make both rasterizers test whole boxes again (the previous behaviour, the reference)."""
    monkeypatch.setattr(rasterize_module, "_coverage_regions", lambda *args: None)
    monkeypatch.setattr(soft_module, "_influence_regions", lambda *args: None)


def _counting(monkeypatch: pytest.MonkeyPatch, module) -> list[int]:
    """Count the pairs the module tests."""
    counts: list[int] = []
    original = candidates.iter_pixel_pairs

    def counted(*args, **kwargs):
        for pairs in original(*args, **kwargs):
            counts.append(pairs.face.numel())
            yield pairs

    monkeypatch.setattr(module, "iter_pixel_pairs", counted)
    return counts


def _assert_same_fragments(a, b) -> None:
    for name in ("face_idx", "bary", "depth", "fg_pixel", "fg_batch", "fg_face", "fg_bary", "fg_depth"):
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype and torch.equal(x, y), name
    assert a.origin == b.origin


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("perspective", [True, False])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_spans_give_the_box_test_result_pixel_for_pixel(monkeypatch, dtype, perspective, seed):
    xy, z, faces = _soup(dtype, seed)
    for cull in (False, True):
        for crop in (False, True):
            counts = _counting(monkeypatch, rasterize_module)
            spans = rasterize_screen(xy, z, faces, H, W, perspective, cull_backfaces=cull, crop=crop, max_pairs=5000)
            with monkeypatch.context() as m:
                _box_only(m)
                box_counts = _counting(m, rasterize_module)
                box = rasterize_screen(xy, z, faces, H, W, perspective, cull_backfaces=cull, crop=crop, max_pairs=5000)
            _assert_same_fragments(spans, box)
            assert spans.fg_pixel.numel() > 100
            assert sum(counts) < 0.75 * sum(box_counts)


def _hand_like_scene(dtype: torch.dtype = torch.float32):
    v, f, _, _ = uv_sphere(33, 32)
    v = (v * torch.tensor([0.045, 0.09, 0.015]) + torch.tensor([0.01, -0.02, 0.4])).to(dtype)
    cam = PerspectiveCamera(intrinsics(500.0, 500.0, 320.0, 240.0, dtype=dtype), 640, 480)
    return v[None], f, cam


def test_spans_on_a_closed_mesh_and_batches_of_it(monkeypatch):
    v, f, cam = _hand_like_scene()
    tilt = torch.tensor([[0.0, 0.0, 0.0], [0.02, 0.01, 0.05], [-0.5, 0.3, 2.0]])
    batch = v + tilt[:, None]  # the third mesh lies mostly behind the camera's near plane
    spans = rasterize(batch, f, cam)
    with monkeypatch.context() as m:
        _box_only(m)
        box = rasterize(batch, f, cam)
    _assert_same_fragments(spans, box)
    # Edge-on: a flat disc seen exactly from its side covers nothing either way.
    disc = v.clone()
    disc[..., 0] = 0.0
    flat = rasterize(disc, f, cam)
    _box_only(monkeypatch)
    _assert_same_fragments(flat, rasterize(disc, f, cam))


def test_spans_keep_the_gradients_of_barycentrics_and_depth(monkeypatch):
    v, f, cam = _hand_like_scene(torch.float64)
    weights = torch.linspace(0.1, 1.0, 3, dtype=torch.float64)

    def grad() -> torch.Tensor:
        x = v.clone().requires_grad_(True)
        frags = rasterize(x, f, cam, crop=True)
        ((frags.fg_bary * weights).sum() + frags.fg_depth.sum()).backward()
        return x.grad

    g = grad()
    _box_only(monkeypatch)
    assert torch.equal(g, grad())


@pytest.mark.parametrize("perspective", [True, False])
def test_soft_spans_give_the_box_result_and_gradients(monkeypatch, perspective):
    xy, z, faces = _soup(torch.float32, 5, batch=2)
    colors = torch.rand(2, faces.shape[0], 3, 3, generator=torch.Generator().manual_seed(3))

    def run(m) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
        counts = _counting(m, soft_module)
        x = xy.clone().requires_grad_(True)
        out = soft_rasterize_screen(x, z, faces, H, W, perspective, corner_attrs=colors, sigma=1.0, max_pairs=4000)
        (out.alpha.sum() + (out.features * torch.tensor([0.3, 0.5, 0.7])).sum()).backward()
        return out.alpha, out.features, x.grad, sum(counts)

    alpha, feat, grad, n = run(monkeypatch)
    with monkeypatch.context() as m:
        _box_only(m)
        box_alpha, box_feat, box_grad, box_n = run(m)
    assert torch.equal(alpha, box_alpha) and torch.equal(feat, box_feat) and torch.equal(grad, box_grad)
    assert n < box_n


def test_soft_spans_on_a_closed_mesh(monkeypatch):
    v, f, cam = _hand_like_scene()
    xy, z = to_screen(v, cam)
    spans = soft_rasterize_screen(xy, z, f, 480, 640, True, sigma=0.5).alpha
    _box_only(monkeypatch)
    assert torch.equal(spans, soft_rasterize_screen(xy, z, f, 480, 640, True, sigma=0.5).alpha)
