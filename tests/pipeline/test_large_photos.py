"""Large photos are detected on a downscaled copy and textured from the hands' full-resolution rectangle
(a 96 MP photo took 8.3 GB; benchmarks/bench_large_photo.py measures the peak memory). The mechanism is
tested at a small scale: a 512 px photo with a 256 px processing limit gives the same hand as without."""

from __future__ import annotations

import dataclasses
import json
from importlib import resources

import numpy as np
import pytest
import torch

from handrecon.io import load_image
from handrecon.pipeline.config import PipelineConfig
from handrecon.pipeline.image import ImageReconstructor
from handrecon.pipeline.outputs import overlay_and_side_images, overlay_image, side_image


@pytest.fixture(scope="module")
def demo():
    assets = resources.files("handrecon.assets")
    truth = json.loads((assets / "demo_hand_truth.json").read_text())
    with resources.as_file(assets / "demo_hand.jpg") as p:
        rgb = load_image(p).rgb
    return rgb, torch.as_tensor(np.asarray(truth["K"], dtype=np.float64))


@pytest.fixture(scope="module")
def full_hands(reconstructor, demo):
    rgb, K = demo
    return reconstructor.pipeline(rgb, K)


def test_detection_on_a_downscaled_copy_and_texture_from_a_crop_give_the_same_hand(reconstructor, demo, full_hands):
    rgb, K = demo
    full = full_hands
    small_cfg = PipelineConfig(detection_max_side=256, texture_source_max_side=256)
    small = ImageReconstructor(reconstructor.models, small_cfg)
    seen: list[tuple[int, ...]] = []
    detect = small.detector.detect
    small.detector.detect = lambda image, tta=None: seen.append(image.shape) or detect(image, tta)
    try:
        hands = small(rgb, K)
    finally:
        small.detector.close()
    assert seen == [(256, 256, 3)]  # the detector saw the downscaled copy only
    assert len(hands) == len(full) == 1
    a, b = hands[0], full[0]
    # keypoints back in the photo's pixels: the landmark model looked at half the pixels, so within a few px
    assert np.abs(a.keypoints_2d_detected - b.keypoints_2d_detected).mean() < 4.0
    # the same hand shape (root-relative joints within 1 cm) at the same distance: the fit's depth follows the
    # hand's apparent size, which the ~1 px landmark change moves by up to ~2 % (network start: 0.382 vs
    # 0.389 m; a wrong scale back to the photo's pixels would be off by half)
    rel_a, rel_b = a.joints_3d - a.joints_3d[:1], b.joints_3d - b.joints_3d[:1]
    assert np.linalg.norm(rel_a - rel_b, axis=1).mean() < 0.01  # metres
    assert abs(a.joints_3d[0, 2] / b.joints_3d[0, 2] - 1) < 0.03
    assert a.texture is not None and a.texture_valid.mean() > 0.5 * b.texture_valid.mean()
    # the texture sampled from the downscaled crop has the photo's colours where both saw the hand
    both = a.texture_valid & b.texture_valid
    assert np.abs(a.texture[both].astype(float) - b.texture[both].astype(float)).mean() < 20


def test_overlays_of_large_photos_are_drawn_downscaled(demo, full_hands):
    rgb, K = demo
    hands = full_hands
    small = overlay_image(rgb, hands, K.numpy(), max_side=256)
    assert small.shape == (256, 256, 3)
    full = overlay_image(rgb, hands, K.numpy())
    # the same picture at half the size: compare with the full overlay shrunk by 2x2 averaging
    shrunk = full.reshape(256, 2, 256, 2, 3).mean((1, 3))
    assert np.abs(shrunk - small.astype(float)).mean() < 12
    assert side_image(hands, K.numpy(), 512, 512, max_side=256).shape == (256, 256, 3)


@pytest.mark.parametrize("max_side", [256, 2048])
def test_overlay_and_side_view_together_equal_each_alone(demo, full_hands, max_side):
    """What `write_image_outputs` writes (both images from one batched rasterization) is what
    `overlay_image` and `side_image` draw, downscaled or not, with one hand, two (the same hand moved
    aside) or none."""
    rgb, K = demo
    h = full_hands[0]
    moved = dataclasses.replace(h, vertices=h.vertices + [0.02, 0.0, 0.01])
    for hands in ([h], [h, moved], []):
        overlay, side = overlay_and_side_images(rgb, hands, K.numpy(), max_side=max_side)
        np.testing.assert_array_equal(overlay, overlay_image(rgb, hands, K.numpy(), max_side=max_side))
        if hands:
            np.testing.assert_array_equal(side, side_image(hands, K.numpy(), rgb.shape[1], rgb.shape[0], max_side))
        else:
            assert side is None
