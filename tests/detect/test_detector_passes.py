"""The detector on the bundled demo render: the single static pass, and the optional augmented passes."""


import numpy as np

from handrecon.detect.mediapipe_hands import MediaPipeHands, TTAConfig


def test_single_pass_reports_landmark_depths_and_no_spread(demo_rgb):
    with MediaPipeHands() as det:
        dets = det.detect(demo_rgb)
    assert len(dets) == 1
    d = dets[0]
    assert d.tta_spread is None
    assert d.relative_depth is not None and d.relative_depth.shape == (21,) and d.relative_depth[0] == 0
    assert np.ptp(d.relative_depth) > 0


def test_augmented_passes_track_the_same_hand(demo_rgb):
    with MediaPipeHands() as det:
        plain = det.detect(demo_rgb)[0]
        dets = det.detect(demo_rgb, TTAConfig(passes=2))
    assert len(dets) == 1
    d = dets[0]
    assert d.tta_spread is not None and d.tta_spread.shape == (21,) and np.all(d.tta_spread >= 0)
    # the first pass of both modes sees the same image: the same hand, to within a few pixels
    assert np.abs(d.keypoints - plain.keypoints).max() < 0.05 * plain.size_px
    assert np.median(d.tta_spread) < 0.05 * d.size_px
