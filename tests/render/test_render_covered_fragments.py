"""The NumPy covered-pixel path gives `rasterize(..., crop=True)`'s pixels, faces, barycentrics and depths
bit for bit, and `covered_fragments` packs them into fragments equal to the rasterizer's where they overlap."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from handrecon.geometry.camera import PerspectiveCamera, WeakPerspectiveCamera, intrinsics
from handrecon.hand import HandModel
from handrecon.render.covered import covered_fragments, covered_pixels
from handrecon.render.rasterize import rasterize

W, H = 640, 480


@pytest.fixture(scope="module")
def hand():
    model = HandModel(side="right")
    with torch.no_grad():
        pose = torch.zeros(1, 15, 3)
        pose[0, :, 2] = 0.25  # fingers a little curled: overlapping layers
        mesh = model(global_orient=torch.tensor([[0.3, -0.4, 0.2]]), hand_pose=pose, betas=torch.zeros(1, 10))
    v = mesh.vertices - mesh.vertices.mean(1, keepdim=True)
    return v, model.faces.long()


def _camera(dtype=torch.float32):
    return PerspectiveCamera(intrinsics(600.0, 600.0, W / 2, H / 2).to(dtype), W, H)


def _reference(v, f, camera):
    """(image pixel, face, barycentrics) of `rasterize(..., crop=True)`, the path the overlay used before."""
    with torch.no_grad():
        frags = rasterize(v, f, camera, crop=True)
    w = frags.shape[2]
    ox, oy = frags.origin
    line = torch.div(frags.fg_pixel, w, rounding_mode="floor")
    pixel = (line + oy) * camera.width + (frags.fg_pixel - line * w + ox)
    return pixel.numpy(), frags.fg_face.numpy(), frags.fg_bary.numpy()


def _two_hands(hand):
    """Two hands, the second nearer the camera and hiding part of the first."""
    v, f = hand
    near = v + torch.tensor([0.03, 0.02, 0.38])
    far = v.flip(-1) * torch.tensor([1.0, -1.0, 1.0]) + torch.tensor([0.0, 0.0, 0.45])
    return torch.cat([far, near], 1), torch.cat([f, f + v.shape[1]])


def _scenes(hand):
    v, f = hand
    yield "hand", v + torch.tensor([0.0, 0.0, 0.45]), f, _camera()
    yield "two hands, occluded", *_two_hands(hand), _camera()
    yield "float64", v.double() + torch.tensor([0.01, 0.0, 0.45]).double(), f, _camera(torch.float64)
    yield "cut by the image border", v + torch.tensor([0.2, 0.12, 0.4]), f, _camera()
    # Some faces nearer than znear (dropped), some behind the camera.
    yield "through the near plane", v + torch.tensor([0.0, 0.0, 0.02]), f, _camera()
    yield "off the image", v + torch.tensor([5.0, 0.0, 0.45]), f, _camera()
    weak = WeakPerspectiveCamera(torch.tensor([900.0]), torch.tensor([[W / 2, H / 2]]), W, H)
    yield "weak perspective", v, f, weak


@pytest.mark.parametrize("index", range(7))
def test_covered_pixels_equal_the_rasterizer_bit_for_bit(hand, index):
    name, v, f, camera = list(_scenes(hand))[index]
    pixel, face, bary = covered_pixels(v, f, camera)
    ref_pixel, ref_face, ref_bary = _reference(v, f, camera)
    if name != "off the image":
        assert len(ref_pixel) > 500, name
    assert pixel.dtype == np.int64 and face.dtype == np.int64 and bary.dtype == ref_bary.dtype
    np.testing.assert_array_equal(pixel, ref_pixel)
    np.testing.assert_array_equal(face, ref_face)
    assert bary.tobytes() == ref_bary.tobytes()  # bitwise, signed zeros included


def test_two_hand_scene_is_occluded(hand):
    """The scene above does test the depth order: the near hand hides faces of the far one."""
    v, f = _two_hands(hand)
    _, face, _ = covered_pixels(v, f, _camera())
    _, far_only, _ = covered_pixels(v[:, : v.shape[1] // 2], f[: f.shape[0] // 2], _camera())
    hidden = len(far_only) - int((face < f.shape[0] // 2).sum())
    assert hidden > 1000


def test_covered_pixels_reject_bad_faces(hand):
    v, f = hand
    with pytest.raises(ValueError, match="face indices"):
        covered_pixels(v + torch.tensor([0.0, 0.0, 0.45]), f + 10_000, _camera())
    with pytest.raises(ValueError, match=r"\(F, 3\)"):
        covered_pixels(v + torch.tensor([0.0, 0.0, 0.45]), f[:, :2], _camera())


def _in_image(frags, camera):
    """Image-sized face, depth and barycentric buffers of (possibly cropped) fragments of one mesh."""
    face = torch.full((camera.height, camera.width), -1, dtype=torch.long)
    depth = torch.zeros(camera.height, camera.width, dtype=frags.depth.dtype)
    bary = torch.zeros(camera.height, camera.width, 3, dtype=frags.bary.dtype)
    (ox, oy), (_, h, w) = frags.origin, frags.shape
    face[oy : oy + h, ox : ox + w] = frags.face_idx[0]
    depth[oy : oy + h, ox : ox + w] = frags.depth[0]
    bary[oy : oy + h, ox : ox + w] = frags.bary[0]
    return face, depth, bary


@pytest.mark.parametrize("index", range(7))
def test_covered_fragments_equal_the_rasterizer_bit_for_bit(hand, index):
    name, v, f, camera = list(_scenes(hand))[index]
    frags = covered_fragments(v, f, camera)
    with torch.no_grad():
        ref = rasterize(v, f, camera, crop=True)
    assert frags.fg_face.dtype == frags.fg_pixel.dtype == torch.long
    assert frags.fg_depth.dtype == frags.fg_bary.dtype == v.dtype
    # The covered pixels, listed in image order, in the buffers' own pixel numbering.
    def image_pixels(fr):
        (ox, oy), w = fr.origin, fr.shape[2]
        line = torch.div(fr.fg_pixel, w, rounding_mode="floor")
        return (line + oy) * camera.width + (fr.fg_pixel - line * w + ox)

    assert torch.equal(image_pixels(frags), image_pixels(ref))
    assert torch.equal(frags.fg_face, ref.fg_face) and torch.equal(frags.fg_batch, ref.fg_batch)
    assert frags.fg_bary.numpy().tobytes() == ref.fg_bary.numpy().tobytes()
    assert frags.fg_depth.numpy().tobytes() == ref.fg_depth.numpy().tobytes()
    for a, b in zip(_in_image(frags, camera), _in_image(ref, camera), strict=True):
        assert a.numpy().tobytes() == b.numpy().tobytes()
    if name != "off the image":  # the buffers hold just the covered pixels' rectangle
        (ox, oy), (_, h, w) = frags.origin, frags.shape
        cols, rows = image_pixels(frags) % camera.width, image_pixels(frags) // camera.width
        assert (ox, oy, ox + w - 1, oy + h - 1) == (int(cols.min()), int(rows.min()), int(cols.max()), int(rows.max()))
    else:
        assert frags.shape == (1, 1, 1) and frags.fg_pixel.numel() == 0 and int(frags.face_idx[0, 0, 0]) == -1


@pytest.mark.parametrize("index", range(7))
def test_covered_fragments_without_barycentrics_keep_faces_and_depths(hand, index):
    _, v, f, camera = list(_scenes(hand))[index]
    full = covered_fragments(v, f, camera)
    lean = covered_fragments(v, f, camera, barycentrics=False)
    assert lean.origin == full.origin and lean.shape == full.shape
    for name in ("face_idx", "depth", "fg_pixel", "fg_batch", "fg_face", "fg_depth"):
        a, b = getattr(lean, name), getattr(full, name)
        assert a.dtype == b.dtype and a.numpy().tobytes() == b.numpy().tobytes(), name
    # not computed: NaN of the right shapes, never silently zero
    assert lean.bary.shape == full.bary.shape and lean.fg_bary.shape == full.fg_bary.shape
    assert bool(lean.fg_bary.isnan().all()) and bool(lean.bary.isnan().all())


@pytest.mark.parametrize("box_pairs", [0, 10**9])
@pytest.mark.parametrize("index", [1, 2, 6])
def test_box_and_span_candidates_alone_give_the_same_pixels(hand, index, box_pairs, monkeypatch):
    """Every face through its box's pixels, or every face through its row spans: the same covered pixels."""
    from handrecon.render import covered

    name, v, f, camera = list(_scenes(hand))[index]
    mixed = covered_pixels(v, f, camera)
    monkeypatch.setattr(covered, "_BOX_PAIRS", box_pairs)
    alone = covered_pixels(v, f, camera)
    for a, b in zip(alone, mixed, strict=True):
        assert a.tobytes() == b.tobytes(), name
