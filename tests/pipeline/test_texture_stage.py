"""The pipeline's texture stage draws its z-buffer with the NumPy covered-pixel path; its textures, masks and
vertex colours are those of the autograd rasterizer, to the bit (one hand, and two hands hiding each other)."""

from __future__ import annotations

import json
from importlib import resources
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from handrecon.io import load_image
from handrecon.pipeline import image as image_stage
from handrecon.render.rasterize import rasterize


@pytest.fixture(scope="module")
def demo_hand(reconstructor):
    assets = resources.files("handrecon.assets")
    truth = json.loads((assets / "demo_hand_truth.json").read_text())
    with resources.as_file(assets / "demo_hand.jpg") as p:
        rgb = load_image(p).rgb
    K = torch.as_tensor(np.asarray(truth["K"], dtype=np.float64))
    hands = reconstructor.pipeline(rgb, K)
    assert len(hands) == 1
    pipe = reconstructor.pipeline
    with torch.no_grad():
        out = pipe.models[hands[0].handedness](**pipe.fitter_params(hands[0]).model_inputs())
    return rgb, K, hands[0].handedness, out


def _with_rasterizer(verts, faces, cam, barycentrics=True):
    return rasterize(verts, faces, cam, crop=True)  # barycentrics always computed


@pytest.mark.parametrize("scene", ["one hand", "two hands"])
def test_textures_equal_those_of_the_rasterizer(reconstructor, demo_hand, scene, monkeypatch):
    rgb, K, side, out = demo_hand
    dets, outs = [SimpleNamespace(handedness=side)], [out]
    if scene == "two hands":  # a copy nearer the camera and shifted sideways hides part of the first hand
        shifted = out.vertices * 0.9 + torch.tensor([0.02, 0.01, 0.0], dtype=out.vertices.dtype)
        dets.append(SimpleNamespace(handedness=side))
        outs.append(SimpleNamespace(vertices=shifted))
    fast = reconstructor.pipeline._textures(rgb, dets, outs, K)
    monkeypatch.setattr(image_stage, "covered_fragments", _with_rasterizer)
    ref = reconstructor.pipeline._textures(rgb, dets, outs, K)
    assert len(fast) == len(ref) == len(dets)
    for a, b in zip(fast, ref, strict=True):
        assert b["valid"].mean() > 0.05
        for key in ("texture", "valid", "vertex_colors"):
            np.testing.assert_array_equal(a[key], b[key])
    if scene == "two hands":
        alone = reconstructor.pipeline._textures(rgb, dets[:1], outs[:1], K)[0]
        assert alone["valid"].sum() > ref[0]["valid"].sum() + 100  # the second hand does hide texels


def test_photo_to_floats_gives_the_values_of_the_float32_route():
    """Bytes straight to the mesh's dtype equal bytes through float32 (exact either way); read-only, strided
    and non-byte photos are handled too."""
    rgb = np.random.default_rng(0).integers(0, 256, (7, 5, 3), dtype=np.uint8)
    read_only = rgb.copy()
    read_only.setflags(write=False)
    for dtype in (torch.float32, torch.float64):
        for photo in (rgb, read_only, rgb[:, ::-1], rgb.astype(np.float64) + 0.3):
            old = torch.from_numpy(np.array(photo, dtype=np.float32)).to(dtype).permute(2, 0, 1)[None] / 255.0
            new = image_stage._photo_tensor(photo, dtype)
            assert new.dtype == dtype and new.shape == (1, 3, 7, 5)
            assert torch.equal(new, old)


def test_colours_to_bytes_round_like_the_out_of_place_chain():
    values = torch.linspace(-0.2, 1.2, 4001, dtype=torch.float64).view(-1, 1).repeat(1, 3)
    values[::7, 1] = 0.5 / 255 * torch.arange(0, 4001, 7, dtype=torch.float64) % 1  # halves: round to even
    strided = values.t().contiguous().t()
    for v in (values, strided):
        expected = (v.clamp(0, 1) * 255).round().byte().numpy()
        np.testing.assert_array_equal(image_stage._to_bytes(v), expected)
    assert torch.equal(values, strided)  # the input is left as it was


def test_corner_uvs_are_gathered_once_and_again_after_a_change(reconstructor, demo_hand):
    _, _, side, _ = demo_hand
    pipe = reconstructor.pipeline
    model = pipe.models[side]
    first = pipe._corner_uvs(side, torch.float64)
    assert torch.equal(first, model.uv[model.faces_uv].double())
    assert pipe._corner_uvs(side, torch.float64) is first  # not gathered per photo
    kept = model.uv.clone()
    try:
        model.uv[0] += 0.25  # an in-place change of the model's UVs is seen
        moved = pipe._corner_uvs(side, torch.float64)
        assert moved is not first and torch.equal(moved, model.uv[model.faces_uv].double())
    finally:
        model.uv.copy_(kept)
    assert torch.equal(pipe._corner_uvs(side, torch.float64), first)
