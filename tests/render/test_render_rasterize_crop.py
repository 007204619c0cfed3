"""Cropped rasterization (`crop=True`): the buffers cover only the rectangle the faces can reach and must
equal the full-image rasterization there, bit for bit, with nothing covered outside it."""

from __future__ import annotations

import pytest
import torch

from handrecon.geometry.camera import PerspectiveCamera, WeakPerspectiveCamera, intrinsics
from handrecon.geometry.mesh import uv_sphere
from handrecon.render.rasterize import Fragments, rasterize, submesh_fragments

H, W = 72, 96


def _scene(dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """Two spheres, one partly in front of the other, in a corner of the image (B = 2: the second mesh moved)."""
    sphere, faces, _, _ = uv_sphere(14, 20, dtype=dtype)
    a = sphere * 0.12 + torch.tensor([0.20, 0.10, 1.0], dtype=dtype)
    b = sphere * 0.08 + torch.tensor([0.28, 0.16, 0.9], dtype=dtype)
    verts = torch.cat([a, b])
    moved = verts + torch.tensor([-0.05, 0.03, 0.1], dtype=dtype)
    return torch.stack([verts, moved]), torch.cat([faces, faces + sphere.shape[0]])


def _camera(kind: str, dtype: torch.dtype):
    if kind == "perspective":
        return PerspectiveCamera(intrinsics(90.0, 90.0, W / 2 - 3.3, H / 2 + 1.7, dtype=dtype), W, H)
    return WeakPerspectiveCamera(torch.tensor([95.0], dtype=dtype), torch.tensor([[40.2, 30.7]], dtype=dtype), W, H)


def _assert_crop_of(full: Fragments, crop: Fragments) -> None:
    B, h, w = crop.shape
    x0, y0 = crop.origin
    assert full.origin == (0, 0) and h < H and w < W
    window = (slice(None), slice(y0, y0 + h), slice(x0, x0 + w))
    assert torch.equal(full.face_idx[window], crop.face_idx)
    assert torch.equal(full.bary[window], crop.bary)
    assert torch.equal(full.depth[window], crop.depth)
    outside = full.mask.clone()
    outside[window] = False
    assert not bool(outside.any())  # every covered pixel lies in the window
    for name in ("fg_batch", "fg_face", "fg_bary", "fg_depth"):
        assert torch.equal(getattr(full, name), getattr(crop, name)), name
    # The covered-pixel lists index the window's buffers.
    assert torch.equal(crop.face_idx.reshape(-1)[crop.fg_pixel], crop.fg_face)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("camera_kind", ["perspective", "weak"])
def test_cropped_rasterization_equals_the_full_one(camera_kind, dtype):
    verts, faces = _scene(dtype)
    camera = _camera(camera_kind, dtype)
    full = rasterize(verts, faces, camera)
    assert full.mask.sum() > 300
    _assert_crop_of(full, rasterize(verts, faces, camera, crop=True))
    # Chunked candidate pairs and back-face culling go through the same path.
    _assert_crop_of(
        rasterize(verts, faces, camera, max_pairs=700), rasterize(verts, faces, camera, crop=True, max_pairs=700)
    )
    culled = rasterize(verts, faces, camera, cull_backfaces=True)
    _assert_crop_of(culled, rasterize(verts, faces, camera, crop=True, cull_backfaces=True))


def test_cropped_rasterization_keeps_gradients():
    verts, faces = _scene(torch.float64)
    camera = _camera("perspective", torch.float64)
    v1, v2 = verts.clone().requires_grad_(True), verts.clone().requires_grad_(True)
    full, crop = rasterize(v1, faces, camera), rasterize(v2, faces, camera, crop=True)
    weights = torch.randn(full.fg_bary.shape[0], 4, dtype=torch.float64)
    (torch.cat([full.fg_bary, full.fg_depth[:, None]], -1) * weights).sum().backward()
    (torch.cat([crop.fg_bary, crop.fg_depth[:, None]], -1) * weights).sum().backward()
    assert torch.equal(v1.grad, v2.grad) and float(v1.grad.abs().sum()) > 0


def test_cropped_rasterization_of_an_empty_scene_is_one_background_pixel():
    verts, faces = _scene(torch.float32)
    off = verts + torch.tensor([10.0, 0.0, 0.0])  # far outside the image
    crop = rasterize(off, faces, _camera("perspective", torch.float32), crop=True)
    assert crop.shape == (2, 1, 1) and crop.origin == (0, 0)
    assert not bool(crop.mask.any()) and crop.fg_pixel.numel() == 0


def test_submesh_of_a_cropped_scene_keeps_the_window():
    verts, faces = _scene(torch.float32)
    camera = _camera("perspective", torch.float32)
    n = faces.shape[0] // 2
    full, crop = rasterize(verts, faces, camera), rasterize(verts, faces, camera, crop=True)
    for start, stop in ((0, n), (n, 2 * n)):
        sub_full, sub_crop = submesh_fragments(full, start, stop), submesh_fragments(crop, start, stop)
        assert sub_crop.origin == crop.origin
        _assert_crop_of(sub_full, sub_crop)
    # A mesh that owns every covered pixel gets the fragments as they are.
    assert submesh_fragments(crop, 0, 2 * n) is crop
