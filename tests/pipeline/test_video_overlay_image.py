"""The video's overlay frame (`video_overlay_image`: painted meshes, OpenCV skeletons) draws what the photo
overlay (`overlay_image`) draws, on a copy of the frame, at the same size."""

from __future__ import annotations

import numpy as np
import torch

from handrecon.geometry.camera import intrinsics
from handrecon.hand import HandModel
from handrecon.pipeline.outputs import overlay_image
from handrecon.pipeline.overlay_writer import OverlayHand, video_overlay_image


def _hand(K: np.ndarray) -> OverlayHand:
    model = HandModel(side="left")
    with torch.no_grad():
        out = model(global_orient=torch.tensor([[0.2, 0.3, -0.1]]), hand_pose=torch.zeros(1, 15, 3))
    shift = torch.tensor([0.0, 0.0, 0.45]) - out.vertices[0].mean(0)
    v, j = (out.vertices[0] + shift).double().numpy(), (out.joints[0] + shift).double().numpy()
    j2d = j[:, :2] / j[:, 2:] * [K[0, 0], K[1, 1]] + K[:2, 2]
    return OverlayHand(v, model.faces.numpy(), j2d, np.full(21, 3.0))


def test_the_video_overlay_draws_what_the_photo_overlay_draws():
    K = intrinsics(600.0, 600.0, 320.0, 240.0).double().numpy()
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    before = frame.copy()
    hand = _hand(K)
    exact = overlay_image(frame, [hand], K, uncertainty=False)
    video = video_overlay_image(frame, [hand], K)
    assert np.array_equal(frame, before)  # drawn on a copy
    changed_exact, changed = (exact != frame).any(-1), (video != frame).any(-1)
    assert changed_exact.sum() > 10000
    assert (changed & changed_exact).sum() > 0.95 * changed_exact.sum()
    assert (changed & ~changed_exact).sum() < 0.05 * changed_exact.sum()
    close = np.abs(exact.astype(int) - video.astype(int)).max(-1) <= 2
    assert close[changed_exact].mean() > 0.85  # the same shading; the rim and the skeleton's edges differ
    assert np.array_equal(video_overlay_image(frame, [], K), frame)


def test_a_large_frame_is_drawn_downscaled_as_the_photo_overlay_is():
    K = intrinsics(600.0, 600.0, 320.0, 240.0).double().numpy()
    frame = np.zeros((480, 640, 3), np.uint8)
    hand = _hand(K)
    small = video_overlay_image(frame, [hand], K, max_side=320)
    assert small.shape == overlay_image(frame, [hand], K, uncertainty=False, max_side=320).shape == (240, 320, 3)
    assert (small != 0).any()
