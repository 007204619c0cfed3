"""Verification of proposals: presence threshold, re-crop until settled, duplicates, side from the body."""

import numpy as np
import pytest

from handrecon.detect.body import BodyHand, hand_rect_from_body
from handrecon.detect.crops import RotatedRect
from handrecon.detect.landmarks import HandLandmarks, rect_from_hand_landmarks
from handrecon.detect.proposals import Proposal
from handrecon.detect.verify import (
    HandVerifier,
    VerifiedHand,
    assign_handedness,
    part_of,
    remove_duplicates,
    same_hand,
    settle,
)

# an upright open hand, 100 px: wrist at the bottom, fingers up (OpenPose-21)
_FINGER_X = {1: -40, 5: -20, 9: 0, 13: 20, 17: 40}


def hand_keypoints(cx=200.0, cy=200.0, size=100.0):
    kp = np.zeros((21, 2))
    kp[0] = [0, 50]
    for base, x in _FINGER_X.items():
        for k in range(4):
            kp[base + k] = [x, 10 - 20 * k] if base != 1 else [x + 5 * k, 30 - 12 * k]
    return kp * (size / 100.0) + [cx, cy]


def landmarks(kp, presence=0.99, right=0.9, rect=None):
    return HandLandmarks(kp, np.zeros(21), np.zeros((21, 3)), presence, right, rect or rect_from_hand_landmarks(kp))


class FakeModel:
    """Reads the hand at a fixed place, with a presence that depends on how well the crop is centred."""

    def __init__(self, kp, presence_at_hand=0.99):
        self.kp, self.p, self.calls = kp, presence_at_hand, 0
        self.best = rect_from_hand_landmarks(kp)

    def __call__(self, rgb, rect):
        self.calls += 1
        off = np.hypot(rect.cx - self.best.cx, rect.cy - self.best.cy) / rect.size
        return landmarks(self.kp, self.p * max(0.0, 1 - off), rect=rect)


def test_settle_recrops_until_the_crop_stops_moving():
    kp = hand_keypoints()
    model = FakeModel(kp)
    lm, rounds = settle(model, None, Proposal(RotatedRect(240, 230, 300, 300), "palm", 1.0), max_rounds=6)
    assert 2 <= rounds < 6 and rounds == model.calls
    assert lm.presence > 0.9  # the settled crop sits on the hand


def test_presence_threshold_keeps_and_drops():
    kp = hand_keypoints()
    prop = Proposal(rect_from_hand_landmarks(kp), "palm", 1.0)
    for presence, kept in ((0.95, 1), (0.85, 0)):
        v = HandVerifier(presence_threshold=0.9, two_read_threshold=None)
        v.model = FakeModel(kp, presence)
        assert len(v(None, [prop])) == kept


def test_duplicates_are_one_hand_touching_hands_two():
    a = hand_keypoints(200, 200)
    a2 = a + 4.0  # the same hand read from another proposal
    b = hand_keypoints(260, 210)  # a second hand beside it, overlapping its box
    assert same_hand(landmarks(a), landmarks(a2))
    assert not same_hand(landmarks(a), landmarks(b))
    p = Proposal(RotatedRect(0, 0, 1, 1), "palm", 1.0)
    q = Proposal(RotatedRect(0, 0, 1, 1), "body", 1.0)
    hands = [VerifiedHand(landmarks(a, 0.95), p, 1), VerifiedHand(landmarks(a2, 0.99), q, 1)]
    hands.append(VerifiedHand(landmarks(b, 0.97), p, 1))
    kept = remove_duplicates(hands)
    assert len(kept) == 2
    assert kept[0].presence == pytest.approx(0.99) and set(kept[0].sources) == {"palm", "body"}


def test_a_finger_read_as_a_small_hand_is_part_of_the_larger_hand():
    big = landmarks(hand_keypoints(200, 200, 100))
    finger = landmarks(hand_keypoints(200, 170, 30))
    assert part_of(finger, big) and not part_of(big, finger)
    assert not part_of(landmarks(hand_keypoints(400, 170, 30)), big)


def test_side_from_body_overrides_a_doubtful_landmark_side():
    kp = hand_keypoints()
    p = Proposal(RotatedRect(0, 0, 1, 1), "palm", 1.0)
    doubtful = VerifiedHand(landmarks(kp, right=0.7), p, 1)
    body = BodyHand("left", RotatedRect(0, 0, 1, 1), kp[0] + [5, 0], 1.0, 0)
    assign_handedness([doubtful], [body])
    assert doubtful.handedness == "left" and doubtful.handedness_source == "body+landmarks"
    assert doubtful.body_side == "left" and 0.5 < doubtful.handedness_confidence < 0.95
    # no body wrist nearby: the landmark model alone
    alone = VerifiedHand(landmarks(kp, right=0.7), p, 1)
    far = BodyHand("left", RotatedRect(0, 0, 1, 1), kp[0] + [500, 0], 1.0, 0)
    assign_handedness([alone], [far])
    assert alone.handedness == "right" and alone.handedness_source == "landmarks"
    assert alone.handedness_confidence == pytest.approx(0.7)


def test_each_body_wrist_names_one_hand():
    a, b = hand_keypoints(200, 200), hand_keypoints(240, 200)
    p = Proposal(RotatedRect(0, 0, 1, 1), "palm", 1.0)
    hands = [VerifiedHand(landmarks(a, right=0.5), p, 1), VerifiedHand(landmarks(b, right=0.5), p, 1)]
    wrists = [BodyHand("right", RotatedRect(0, 0, 1, 1), a[0], 1.0, 0), BodyHand("left", None, b[0] + 3, 1.0, 0)]
    assign_handedness(hands, wrists)
    assert [h.handedness for h in hands] == ["right", "left"]


def test_hand_region_from_body_points_along_the_hand():
    wrist, pinky, index = np.array([100.0, 100.0]), np.array([95.0, 70.0]), np.array([110.0, 70.0])
    r = hand_rect_from_body(wrist, pinky, index)
    up = np.array([np.sin(r.angle), -np.cos(r.angle)])
    assert up[1] < -0.9  # fingers above the wrist: the crop points up
    assert r.to_crop(wrist[None], 1, 1)[0, 1] > 0.5  # the wrist in the lower half of the crop
    assert 2 * 30 < r.size < 8 * 30


def test_a_small_hand_on_a_face_is_a_face_feature():
    from handrecon.detect.landmarks import PoseLandmarks
    from handrecon.detect.plausibility import face_feature

    kp = np.zeros((33, 2))
    kp[0], kp[7], kp[8] = [200, 200], [260, 190], [140, 190]  # nose, ears: head breadth 120 px
    pose = PoseLandmarks(kp, np.ones(33), np.ones(33), 1.0)
    assert face_feature(landmarks(hand_keypoints(200, 205, 40)), [pose])  # a 'hand' the size of a nose
    assert not face_feature(landmarks(hand_keypoints(200, 205, 110)), [pose])  # a hand over the face
    assert not face_feature(landmarks(hand_keypoints(500, 205, 40)), [pose])  # a small hand elsewhere


def test_settle_stops_at_the_first_reading_of_a_known_hand():
    kp = hand_keypoints()
    model = FakeModel(kp)
    near = Proposal(RotatedRect(240, 230, 300, 300), "neighbour", 0.0)
    _, free = settle(model, None, near, max_rounds=6)
    model.calls = 0
    lm, rounds = settle(model, None, near, max_rounds=6, known=[landmarks(kp)])
    assert rounds == 1 == model.calls < free  # the reading is the known hand: no re-crop
    assert same_hand(lm, landmarks(kp))


def test_verifier_records_a_known_hand_read_again_as_a_source_not_a_new_hand():
    kp = hand_keypoints()
    verifier = HandVerifier(presence_threshold=0.5)
    verifier.model = FakeModel(kp)
    known = verifier(None, [Proposal(rect_from_hand_landmarks(kp), "palm", 1.0)])
    assert len(known) == 1
    again = verifier(None, [Proposal(RotatedRect(240, 230, 300, 300), "body", 0.9, "left", 0)], known=known)
    assert again == [] and known[0].sources == ["palm", "body"]


class TwoReadModel:
    """A hand read with one presence straight and another mirrored; landmarks of the hand model's mean hand."""

    def __init__(self, presence, mirrored):
        from handrecon.detect.hand_prior import _right_hand_model

        self.world = _right_hand_model()[2]
        self.kp = 1000.0 * self.world[:, :2] + 200.0
        self.p, self.pm = presence, mirrored

    def __call__(self, rgb, rect, mirror=False):
        lm = landmarks(self.kp, self.pm if mirror else self.p, rect=rect)
        lm.world = self.world.copy()
        return lm


@pytest.mark.parametrize(
    ("presence", "mirrored", "two_read", "kept"),
    [
        (0.95, 0.1, 0.8, True),
        (0.85, 0.9, 0.8, True),
        (0.85, 0.5, 0.8, False),
        (0.85, 0.9, None, False),
        (0.6, 1.0, 0.8, False),
    ],
)
def test_a_hand_under_the_threshold_is_kept_when_its_mirrored_reread_agrees(presence, mirrored, two_read, kept):
    verifier = HandVerifier(presence_threshold=0.9, two_read_threshold=two_read)
    model = TwoReadModel(presence, mirrored)
    verifier.model = model
    out = verifier(None, [Proposal(rect_from_hand_landmarks(model.kp), "palm", 1.0)])
    assert len(out) == int(kept)
    if kept and presence < 0.9:
        assert out[0].mirrored_presence == mirrored and out[0].prior.plausible()
        assert "mirrored" in out[0].kept_because and "knowledge prior plausible" in out[0].kept_because
    if kept and presence >= 0.9:
        assert out[0].mirrored_presence is None and "hand presence 0.950 >= 0.9" in out[0].kept_because


def test_forearm_region_continues_the_forearm_beyond_the_wrist():
    from handrecon.detect.body import HAND_TO_FOREARM, forearm_rect

    elbow, wrist = np.array([100.0, 300.0]), np.array([100.0, 200.0])  # forearm pointing up, 100 px
    r = forearm_rect(wrist, elbow)
    hand = HAND_TO_FOREARM * 100
    assert r.cy < wrist[1] and abs(r.cx - 100) < 1e-9  # beyond the wrist, on the forearm's line
    assert abs(r.angle) < 1e-9  # turned so that the hand points up in the crop
    assert 1.3 * hand < r.size < 1.6 * hand
    assert forearm_rect(wrist, wrist + 1.0) is None  # no forearm to follow
