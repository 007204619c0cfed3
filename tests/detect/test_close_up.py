"""What the thorough front end skips on a close-up: neighbour crops where the palm detector saw nothing
(`handrecon.detect.close_up`)."""

import dataclasses

import numpy as np
import pytest

from handrecon.detect.close_up import OWN_PALM_RADIUS, palm_centre, palm_evidence
from handrecon.detect.crops import RotatedRect
from handrecon.detect.landmarks import HandLandmarks, rect_from_hand_landmarks
from handrecon.detect.multi_source import ThoroughHands
from handrecon.detect.ssd import palm_detector


def _hand(cx=100.0, cy=100.0, size=80.0) -> HandLandmarks:
    rng = np.random.default_rng(0)
    kp = rng.uniform(-0.5, 0.5, (21, 2)) * size + [cx, cy]
    kp[0], kp[12] = [cx, cy + size / 2], [cx, cy - size / 2]  # extent exactly `size`
    return HandLandmarks(kp, np.zeros(21), np.zeros((21, 3)), 0.99, 0.9, rect_from_hand_landmarks(kp))


def test_palm_evidence_is_the_best_anchor_inside_the_crop_away_from_the_verified_palms():
    hand = _hand()
    centre = palm_centre(hand.keypoints)
    rect = RotatedRect(centre[0] + 60, centre[1], 100, 100)
    own = centre + [0.9 * OWN_PALM_RADIUS * hand.size_px, 0]  # inside the crop, on the verified palm
    beside = centre + [1.2 * OWN_PALM_RADIUS * hand.size_px, 0]  # inside the crop, beside the palm
    outside = centre + [200, 0]  # off the crop
    maps = [(np.stack([own, beside, outside]), np.array([0.9, 0.03, 0.8]))]
    assert palm_evidence(rect, maps, [hand]) == pytest.approx(0.03)
    assert palm_evidence(rect, maps, []) == pytest.approx(0.9)  # no verified hand: its palm counts too
    assert palm_evidence(rect, [], [hand]) == 0.0
    assert palm_evidence(rect, [(np.zeros((0, 2)), np.zeros(0))], [hand]) == 0.0


def test_palm_run_keeps_every_anchor_score_and_the_detection_is_the_best_of_them(demo_rgb):
    det = palm_detector()
    dets = det.detect(demo_rgb)
    centres, scores = det.last_anchor_scores
    assert centres.shape == (2016, 2) and scores.shape == (2016,)
    assert dets and max(d.score for d in dets) == pytest.approx(float(scores.max()))
    best = centres[int(np.argmax(scores))]
    x0, y0, x1, y1 = max(dets, key=lambda d: d.score).box
    assert x0 <= best[0] <= x1 and y0 <= best[1] <= y1


def test_neighbour_crops_of_a_close_up_only_where_a_palm_anchor_scored(thorough, demo_rgb):
    H, W = demo_rgb.shape[:2]
    hands, _ = thorough.verified(demo_rgb)
    (hand,) = hands
    largest = hand.landmarks.size_px / min(H, W)
    assert largest >= thorough.settings.close_up_fraction
    everything = dataclasses.replace(thorough.settings, neighbour_min_palm=None)
    all_near = ThoroughHands(settings=everything).neighbour_proposals(hands, largest, W, H, [])
    assert all_near  # without the rule: the crops beside the hand
    assert thorough.neighbour_proposals(hands, largest, W, H, []) == []  # nothing seen: none read
    # a faint palm score at the centre of one neighbour crop (away from the verified palm): that crop is read
    target = all_near[0].rect
    faint = (np.array([[target.cx, target.cy]]), np.array([thorough.settings.neighbour_min_palm]))
    kept = thorough.neighbour_proposals(hands, largest, W, H, [faint])
    assert [p.rect for p in kept] == [target]
    # a hand under a third of the frame keeps every neighbour crop
    assert len(thorough.neighbour_proposals(hands, 0.3, W, H, [])) == len(all_near)


def test_the_rule_keeps_the_demo_hand_as_it_was(thorough, demo_rgb):
    (d,) = thorough.detect(demo_rgb)
    everything = ThoroughHands(settings=dataclasses.replace(thorough.settings, neighbour_min_palm=None))
    (e,) = everything.detect(demo_rgb)
    assert np.abs(d.keypoints - e.keypoints).max() < 1e-9 and d.handedness == e.handedness
    assert d.report["found_by"] == ["palm"]
