"""The thorough front end on the bundled demo render, on a small hand in a large synthetic canvas (found by
the tiles and mapped back to the canvas exactly), and on two dev photos (skipped when absent)."""

import json

import numpy as np
import pytest
from PIL import Image

from handrecon.detect.mediapipe_hands import MediaPipeHands
from handrecon.detect.multi_source import ThoroughHands
from tests.detect.conftest import hamer_photo


@pytest.fixture(scope="module")
def demo_fast(demo_rgb):
    with MediaPipeHands() as det:
        return det.detect(demo_rgb)


def test_close_up_one_hand_as_mediapipe_finds_it(thorough, demo_rgb, demo_fast):
    dets = thorough.detect(demo_rgb)
    assert len(dets) == 1 and len(demo_fast) == 1
    d, f = dets[0], demo_fast[0]
    assert d.handedness == f.handedness
    assert np.linalg.norm(d.keypoints - f.keypoints, axis=1).mean() < 0.05 * f.size_px
    assert d.report["presence"] >= thorough.verifier.presence_threshold
    assert "hand presence" in d.report["kept_because"] and d.report["handedness_source"] in (
        "landmarks",
        "body+landmarks",
    )
    assert thorough.last_stats["tiles"] == 0  # a close-up: no tiles


def test_small_hand_in_a_large_canvas_found_by_tiles_at_its_place(thorough, demo_rgb, demo_fast):
    H, W = demo_rgb.shape[:2]
    scale, x0, y0 = 0.35, 1150, 260
    small = np.asarray(Image.fromarray(demo_rgb).resize((round(W * scale), round(H * scale)), Image.BILINEAR))
    canvas = np.full((1400, 1600, 3), 90, np.uint8)
    canvas[y0 : y0 + small.shape[0], x0 : x0 + small.shape[1]] = small
    dets = thorough.detect(canvas)
    assert len(dets) == 1
    expected = demo_fast[0].keypoints * (small.shape[1] / W) + [x0, y0]
    err = np.linalg.norm(dets[0].keypoints - expected, axis=1).mean()
    assert err < 0.08 * np.ptp(expected, 0).max()
    assert thorough.last_stats["tiles"] > 0


def _hard_dev():
    from handrecon.data.devdata import default_devdata_dir

    root = default_devdata_dir()
    if root is None or not (root / "hard_dev" / "annotations.json").is_file():
        pytest.skip("hard_dev split (../shared/devdata/hard_dev) not present")
    return root / "hard_dev"


@pytest.mark.parametrize("name", ["pixie_IMG_1332_frame7900", "pixie_IMG_1331_frame10020"])
def test_dev_photo_hands_found_with_their_side_from_the_body(thorough, name):
    root = _hard_dev()
    ann = json.loads((root / "annotations.json").read_text())
    item = next(im for im in ann["images"] if name in im["file"])
    rgb = np.asarray(Image.open(root / item["file"]).convert("RGB"))
    dets = thorough.detect(rgb)
    for gt in item["hands"]:
        x0, y0, x1, y1 = gt["bbox"]
        inside = [
            d
            for d in dets
            if np.mean(
                (d.keypoints[:, 0] >= x0)
                & (d.keypoints[:, 0] <= x1)
                & (d.keypoints[:, 1] >= y0)
                & (d.keypoints[:, 1] <= y1)
            )
            >= 0.5
        ]
        assert len(inside) == 1, f"{name}: {gt['side']} hand found {len(inside)} times"
        assert inside[0].handedness == gt["side"]
        assert inside[0].report["handedness_source"] == "body+landmarks"
        assert inside[0].report["body_side"] == gt["side"]


def test_augmented_rereads_give_a_small_landmark_spread(thorough, demo_rgb):
    from handrecon.detect.mediapipe_hands import TTAConfig

    d = thorough.detect(demo_rgb, TTAConfig(passes=2))[0]
    assert d.tta_spread is not None and d.tta_spread.shape == (21,) and np.all(d.tta_spread >= 0)
    assert 0 < np.median(d.tta_spread) < 0.05 * d.size_px


def test_tracked_region_of_the_previous_frame_is_a_proposal(demo_rgb):
    with ThoroughHands() as det:
        first = det.track(demo_rgb)
        second = det.track(demo_rgb)
    assert len(first) == len(second) == 1
    assert "track" in second[0].report["found_by"]


def test_mirrored_reread_reads_the_same_hand_as_the_other_side(thorough, demo_rgb):
    (d,) = thorough.detect(demo_rgb)
    model = thorough.verifier.model
    from handrecon.detect.landmarks import rect_from_hand_landmarks

    rect = rect_from_hand_landmarks(d.keypoints)
    straight, mirrored = model(demo_rgb, rect), model(demo_rgb, rect, mirror=True)
    size = float(np.ptp(straight.keypoints, 0).max())
    assert np.linalg.norm(mirrored.keypoints - straight.keypoints, axis=1).mean() < 0.1 * size
    assert (straight.right - 0.5) * (mirrored.right - 0.5) > 0  # the same side once flipped back
    assert mirrored.presence > 0.5
    # world landmarks flipped back: the thumb lies on the same side of the middle finger
    side = lambda w: np.sign(np.cross(w[9, :2] - w[0, :2], w[4, :2] - w[0, :2]))  # noqa: E731
    assert side(mirrored.world) == side(straight.world)


def test_frame_filling_close_up_runs_no_body_pass(thorough, demo_rgb):
    H, W = demo_rgb.shape[:2]
    canvas = np.zeros((3 * H, 3 * W, 3), np.uint8)  # the same hand with a wide margin: no longer a close-up
    canvas[H : 2 * H, W : 2 * W] = demo_rgb
    calls = []
    body = thorough.body
    thorough.body = lambda rgb, regions: calls.append(rgb.shape) or body(rgb, regions)
    try:
        (d,) = thorough.detect(demo_rgb)
        assert np.ptp(d.keypoints, 0).max() >= thorough.settings.frame_filling_fraction * min(H, W)
        assert calls == []  # the hand fills the frame: no body can be in view beside it
        thorough.detect(canvas)
        assert calls == [canvas.shape]
    finally:
        thorough.body = body


def test_weak_palm_detections_are_verified_only_when_nothing_else_found_a_hand(demo_rgb):
    import dataclasses

    from handrecon.detect.multi_source import ThoroughSettings
    from handrecon.detect.ssd import palm_detector

    H, W = demo_rgb.shape[:2]
    small = np.asarray(Image.fromarray(demo_rgb).resize((W // 2, H // 2), Image.BILINEAR))
    canvas = np.full((700, 700, 3), 90, np.uint8)
    canvas[100 : 100 + small.shape[0], 150 : 150 + small.shape[1]] = small
    # one model run, two lists: the strong one is exactly `detect`'s, the weak one below min_score
    det = palm_detector(0.95)
    strong, weak = det.detect_with_weak(canvas, None, 0.5)
    assert strong == det.detect(canvas) == [] and weak and all(0.5 <= d.score < 0.95 for d in weak)
    # a palm scoring under palm_min_score: no hand without the fallback, the hand with it
    base = ThoroughSettings(
        palm_min_score=0.95, tiles=False, body=False, scan=False, neighbours=False, zoom_pyramid=()
    )
    assert ThoroughHands(settings=dataclasses.replace(base, weak_palm_floor=None)).detect(canvas) == []
    (d,) = ThoroughHands(settings=dataclasses.replace(base, weak_palm_floor=0.5)).detect(canvas)
    assert d.report["found_by"] == ["palm-weak"] and d.report["presence"] >= 0.9
    assert 100 <= d.keypoints[:, 1].mean() <= 100 + H // 2 and 150 <= d.keypoints[:, 0].mean() <= 150 + W // 2


def test_zoom_pyramid_regions_are_the_whole_image_with_growing_margins():
    from handrecon.detect.proposals import zoom_pyramid

    regions = zoom_pyramid(600, 450, (2**0.5, 2.0))
    assert [(r.cx, r.cy, r.angle) for r in regions] == [(300.0, 225.0, 0.0)] * 2
    assert [r.width for r in regions] == pytest.approx([600 * 2**0.5, 1200.0])
    assert all(r.width == r.height for r in regions)


def test_zoom_pyramid_runs_only_when_nothing_was_found_and_stops_at_the_first_level_with_a_hand(demo_rgb):
    import dataclasses

    from handrecon.detect.multi_source import ThoroughSettings

    det = ThoroughHands(settings=dataclasses.replace(ThoroughSettings(), tiles=False, body=False))
    calls = []
    pyramid = det.zoom_pyramid_hands
    det.zoom_pyramid_hands = lambda rgb, factors: calls.append(factors) or pyramid(rgb, factors)
    assert len(det.detect(demo_rgb)) == 1 and calls == []  # a hand found: the fallback costs nothing
    assert det.detect(np.full((300, 400, 3), 90, np.uint8)) == [] and calls == [det.settings.zoom_pyramid]
    # level by level: the demo hand is found at the first level, the others are not run
    regions = []
    proposals = det.palm_proposals
    det.palm_proposals = lambda rgb, rs, source, weak=None: regions.append(rs) or proposals(rgb, rs, source, weak)
    (h,) = pyramid(demo_rgb, (2.0, 4.0))
    assert len(regions) == 1 and regions[0][0].width == pytest.approx(2.0 * max(demo_rgb.shape[:2]))
    assert h.proposal.source == "palm-zoom" and h.presence >= det.settings.presence_threshold
    with MediaPipeHands() as fast:
        (f,) = fast.detect(demo_rgb)
    assert np.linalg.norm(h.landmarks.keypoints - f.keypoints, axis=1).mean() < 0.05 * f.size_px


def test_trumpet_photo_lower_hand_found_by_the_zoom_pyramid():
    """photos_hamer/test2: no palm >= palm_min_score on the image or the first zoom-out, no person; the hand
    holding the valve casing (the player's left, wrist below the frame) comes from the pyramid."""
    rgb = hamer_photo("test2.jpg")
    with ThoroughHands() as det:
        dets = det.detect(rgb)
    assert len(dets) >= 1, det.last_stats
    (d,) = [d for d in dets if d.report["found_by"] == ["palm-zoom"]]
    assert d.handedness == "left" and d.report["presence"] >= 0.9
    centre = d.keypoints.mean(0)
    assert centre[1] > 0.6 * rgb.shape[0] and 0.5 * rgb.shape[1] < centre[0] < 0.95 * rgb.shape[1]
