"""Hiding a verified hand's palm so that the landmark model reads the second of two hands held together."""

import json

import numpy as np
from test_verify import hand_keypoints, landmarks

from handrecon.detect.body import BodyHand, forearm_rect
from handrecon.detect.crops import RotatedRect
from handrecon.detect.masking import NEUTRAL_GREY, PALM_JOINTS, mask_palms, palm_in_rect, palm_mask
from handrecon.detect.multi_source import ThoroughHands
from handrecon.detect.proposals import Proposal
from handrecon.detect.verify import VerifiedHand
from tests.detect.conftest import hamer_photo


def test_palm_mask_covers_the_palm_not_the_finger_tips():
    hand = landmarks(hand_keypoints(200, 200, 100))
    mask = palm_mask((400, 400, 3), [hand])
    for j in PALM_JOINTS:
        x, y = np.round(hand.keypoints[j]).astype(int)
        assert mask[y, x]
    for tip in (8, 12, 16, 20):
        x, y = np.round(hand.keypoints[tip]).astype(int)
        assert not mask[y, x]
    rgb = np.full((400, 400, 3), 7, np.uint8)
    out = mask_palms(rgb, [hand])
    assert np.all(out[mask] == NEUTRAL_GREY) and np.all(out[~mask] == 7) and np.all(rgb == 7)


def test_palm_in_rect():
    hand = landmarks(hand_keypoints(200, 200, 100))
    assert palm_in_rect(hand, RotatedRect(200, 220, 100, 100, 0.7))
    assert not palm_in_rect(hand, RotatedRect(320, 220, 100, 100))


class TwoHandsModel:
    """A landmark model that reads hand A whenever A's palm (bright pixels) is in the crop, else hand B."""

    def __init__(self, a, b, presence_b=0.95):
        self.a, self.b, self.pb = a, b, presence_b

    def __call__(self, rgb, rect, mirror=False):
        u = rect.to_crop(np.argwhere(rgb[..., 0] == 200)[:, ::-1] + 0.5, 1, 1)
        if np.any(np.all((u >= 0) & (u <= 1), axis=1)):
            return landmarks(self.a.copy(), 0.99, 0.9, rect)
        return landmarks(self.b.copy(), self.pb, 0.1, rect)


def _scene(wrist_b_offset=0.0, presence_b=0.95):
    """Hand A (verified) and hand B beside it, B's forearm crop holding A's palm."""
    a = hand_keypoints(200, 200, 100)
    b = hand_keypoints(250, 190, 100)
    rgb = np.zeros((400, 400, 3), np.uint8)
    hull = palm_mask(rgb.shape, [landmarks(a)], dilation=0.0)
    rgb[hull] = 200
    wrist = b[0] + [wrist_b_offset, 0.0]
    body = BodyHand("left", RotatedRect(*wrist, 120, 120), wrist, 0.99, 0, wrist + [0.0, 135.0])
    found = VerifiedHand(landmarks(a), Proposal(RotatedRect(200, 200, 200, 200), "palm", 1.0), 1)
    return rgb, a, b, body, found


def test_second_hand_read_at_its_body_wrist_with_the_first_palm_masked(thorough):
    rgb, a, b, body, found = _scene()
    assert palm_in_rect(found.landmarks, forearm_rect(body.wrist, body.elbow))
    model, thorough.verifier.model = thorough.verifier.model, TwoHandsModel(a, b)
    try:
        unmasked = thorough.verifier.model(rgb, forearm_rect(body.wrist, body.elbow))
        assert np.allclose(unmasked.keypoints, a)  # without the mask the crop reads the first hand again
        ((hand, reading),) = thorough.masked_wrist_reads(rgb, [body], [found])
        assert hand is not None and np.allclose(hand.landmarks.keypoints, b)
        assert hand.proposal.source == "masked-wrist" and "masked" in hand.kept_because
        # a reading under the presence threshold, or one not attached to that wrist, is no hand
        thorough.verifier.model = TwoHandsModel(a, b, presence_b=0.5)
        ((hand, _),) = thorough.masked_wrist_reads(rgb, [body], [found])
        assert hand is None
        rgb, a, b, body, found = _scene(wrist_b_offset=-80.0)
        thorough.verifier.model = TwoHandsModel(a, b)
        out = thorough.masked_wrist_reads(rgb, [body], [found])
        assert all(h is None for h, _ in out)
    finally:
        thorough.verifier.model = model


def test_no_masked_read_where_no_verified_palm_is_in_the_forearm_crop(thorough):
    rgb, a, b, body, found = _scene()
    far = BodyHand("left", body.rect, body.wrist + [0, 300], 0.99, 0, body.wrist + [0, 435])
    assert thorough.masked_wrist_reads(rgb, [far], [found]) == []


def test_interlocked_hands_photo_gives_two_hands_one_each_side():
    rgb = hamer_photo("test3.jpg")
    with ThoroughHands() as det:
        dets = det.detect(rgb)
    assert sorted(d.handedness for d in dets) == ["left", "right"], json.dumps([d.report for d in dets])
    left = next(d for d in dets if d.handedness == "left")
    assert left.report["found_by"] == ["masked-wrist"] and left.report["body_side"] == "left"
    # each hand's wrist at its own body wrist: the two wrists lie apart
    wrists = np.array([d.keypoints[0] for d in dets])
    assert np.linalg.norm(wrists[0] - wrists[1]) > 0.5 * min(np.ptp(d.keypoints, 0).max() for d in dets)
