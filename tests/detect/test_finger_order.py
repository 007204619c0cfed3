"""A reading's finger order against the body's own hand points: verdicts, the re-read of a reversed reading,
no model run where no body is attached, and a dev photo whose mirrored reading the body corrects."""

import json

import numpy as np
import pytest
from test_verify import hand_keypoints, landmarks

from handrecon.detect.body import BodyHand
from handrecon.detect.crops import RotatedRect
from handrecon.detect.finger_order import (
    AGREES_FROM,
    REVERSED_UP_TO,
    along_body_rect,
    body_finger_order,
    reread_reversed,
)
from handrecon.detect.multi_source import ThoroughHands, ThoroughSettings
from handrecon.detect.proposals import Proposal
from handrecon.detect.verify import VerifiedHand


def mirrored_keypoints(kp):
    """The same hand read as its mirror image about the wrist's vertical: index on the little finger."""
    out = kp.copy()
    out[:, 0] = 2 * kp[0, 0] - kp[:, 0]
    return out


def body_at(kp, pinky, index, visibility=0.99, side="left"):
    knuckles = np.array([pinky, index], dtype=np.float64)
    rect = RotatedRect(*kp[0], 120, 120)
    return BodyHand(side, rect, kp[0].copy(), 0.99, 0, kp[0] + [0, 135.0], knuckles, visibility)


def test_verdicts_from_the_body_points():
    kp = hand_keypoints()  # upright hand: index MCP left of the little MCP, 60 px apart
    agree = body_finger_order(kp, body_at(kp, kp[17], kp[5]))
    assert agree.verdict == "agrees" and agree.cosine == pytest.approx(1.0) and agree.span_ratio == pytest.approx(1.0)
    rev = body_finger_order(kp, body_at(kp, kp[5], kp[17]))
    assert rev.verdict == "reversed" and rev.cosine == pytest.approx(-1.0)
    # the same body points say the mirrored reading agrees
    assert body_finger_order(mirrored_keypoints(kp), body_at(kp, kp[5], kp[17])).verdict == "agrees"
    # an edge-on direction: neither
    mid = (kp[5] + kp[17]) / 2
    assert body_finger_order(kp, body_at(kp, mid + [0, 30], mid - [0, 30])).verdict == "unclear"
    # bunched body points (under half the reading's span) and hidden ones say nothing
    bunched = body_finger_order(kp, body_at(kp, mid + [12, 0], mid - [12, 0]))
    assert bunched.verdict == "unresolved" and bunched.cosine == pytest.approx(1.0)
    assert body_finger_order(kp, body_at(kp, kp[5], kp[17], visibility=0.3)).verdict == "unresolved"
    no_points = BodyHand("left", RotatedRect(0, 0, 1, 1), kp[0].copy(), 0.99, 0)
    assert body_finger_order(kp, no_points) is None


def test_thresholds_are_symmetric_60_degree_cones():
    assert np.cos(np.radians(60)) == pytest.approx(AGREES_FROM)
    assert np.cos(np.radians(120)) == pytest.approx(REVERSED_UP_TO)
    kp = hand_keypoints()
    for deg, verdict in ((55, "agrees"), (65, "unclear"), (115, "unclear"), (125, "reversed")):
        a = np.radians(180 + deg)  # the reading's little -> index direction points along -x
        u = 60 * np.array([np.cos(a), np.sin(a)])
        mid = (kp[5] + kp[17]) / 2
        assert body_finger_order(kp, body_at(kp, mid - u / 2, mid + u / 2)).verdict == verdict, deg


class MirrorModel:
    """Reads the hand in the plain crop as `plain` and in the mirrored crop as `mirrored` (counts its runs)."""

    def __init__(self, plain, mirrored, presence_plain=0.97, presence_mirrored=0.96):
        self.plain, self.mirrored = plain, mirrored
        self.pp, self.pm = presence_plain, presence_mirrored
        self.calls = []

    def __call__(self, rgb, rect, mirror=False):
        self.calls.append(mirror)
        if mirror:
            return landmarks(self.mirrored.copy(), self.pm, 0.1, rect)
        return landmarks(self.plain.copy(), self.pp, 0.9, rect)


def test_reversed_reading_replaced_by_the_mirrored_reread_that_agrees_with_the_body():
    true = hand_keypoints()
    wrong = mirrored_keypoints(true)
    body = body_at(true, true[17], true[5])
    model = MirrorModel(wrong, true)
    new, how = reread_reversed(model, None, landmarks(wrong), body, 0.9)
    assert np.allclose(new.keypoints, true) and "mirrored" in how and model.calls == [True]


def test_no_reread_that_agrees_or_passes_presence_gives_none():
    true = hand_keypoints()
    wrong = mirrored_keypoints(true)
    body = body_at(true, true[17], true[5])
    # every re-read repeats the wrong order: the mirrored one, then the crop turned along the body (settled)
    model = MirrorModel(wrong, wrong)
    assert reread_reversed(model, None, landmarks(wrong), body, 0.9) is None
    assert model.calls[0] is True and len(model.calls) >= 2 and not any(model.calls[1:])
    # the right order under the presence threshold is not taken; the turned crop's plain reading is
    model = MirrorModel(true, true, presence_plain=0.95, presence_mirrored=0.5)
    new, how = reread_reversed(model, None, landmarks(wrong), body, 0.9)
    assert "turned" in how and new.presence == pytest.approx(0.95)
    # a re-read whose wrist leaves the body's wrist is another hand
    model = MirrorModel(wrong, true + [300.0, 0.0])
    assert reread_reversed(model, None, landmarks(wrong), body, 0.9) is None
    # so is a re-read that is another hand already found (two hands held together)
    model = MirrorModel(wrong, true)
    assert reread_reversed(model, None, landmarks(wrong), body, 0.9, others=[landmarks(true + 2.0)]) is None


def test_crop_turned_along_the_body_hand():
    kp = hand_keypoints()
    body = body_at(kp, kp[0] + [100.0, 0.0], kp[0] + [100.0, 0.0])  # knuckles to the right of the wrist
    r = along_body_rect(landmarks(kp), body)
    up = r.to_image(np.array([[0.5, 0.0]]), 1, 1)[0] - [r.cx, r.cy]  # the crop's top edge, from its centre
    assert up[0] > 0 and abs(up[1]) < 1e-6 * r.size
    assert (r.cx, r.cy, r.size) == (landmarks(kp).rect.cx, landmarks(kp).rect.cy, landmarks(kp).rect.size)


def _detector_with(model):
    det = ThoroughHands.__new__(ThoroughHands)
    det.settings = ThoroughSettings()
    det.verifier = type("V", (), {"model": model, "presence_threshold": 0.9, "max_rounds": 4})()
    det.last_stats = {}
    return det


def test_check_records_the_reread_and_costs_no_run_without_a_body():
    true = hand_keypoints()
    wrong = mirrored_keypoints(true)
    model = MirrorModel(wrong, true)
    det = _detector_with(model)
    hand = VerifiedHand(landmarks(wrong, 0.95), Proposal(RotatedRect(200, 200, 200, 200), "palm", 1.0), 2)
    hand.kept_because = "hand presence 0.950"
    det.check_finger_order(np.zeros((400, 400, 3), np.uint8), [hand], [body_at(true, true[17], true[5])])
    assert np.allclose(hand.landmarks.keypoints, true) and model.calls == [True]
    rec = json.loads(json.dumps(hand.finger_order))
    assert rec["body"] == "agrees" and rec["first_reading"]["body"] == "reversed"
    assert rec["action"].startswith("re-read")
    assert "finger order re-read" in hand.kept_because and det.last_stats["finger_order_rereads"] == 1
    # a body wrist far from the hand: not attached, no check, no model run
    model.calls.clear()
    other = VerifiedHand(landmarks(wrong, 0.95), Proposal(RotatedRect(200, 200, 200, 200), "palm", 1.0), 2)
    far = body_at(true + [500.0, 0.0], true[5] + [500.0, 0.0], true[17] + [500.0, 0.0])
    det.check_finger_order(None, [other], [far])
    assert other.finger_order is None and model.calls == [] and np.allclose(other.landmarks.keypoints, wrong)
    # a body that agrees: recorded, no run
    det.check_finger_order(None, [other], [body_at(wrong, wrong[17], wrong[5])])
    assert other.finger_order["action"] == "none" and other.finger_order["body"] == "agrees" and model.calls == []


def test_doubtful_when_no_reread_agrees():
    true = hand_keypoints()
    wrong = mirrored_keypoints(true)
    det = _detector_with(MirrorModel(wrong, wrong))
    hand = VerifiedHand(landmarks(wrong, 0.95), Proposal(RotatedRect(200, 200, 200, 200), "palm", 1.0), 2)
    det.check_finger_order(np.zeros((400, 400, 3), np.uint8), [hand], [body_at(true, true[17], true[5])])
    assert hand.finger_order["body"] == "reversed" and hand.finger_order["action"].startswith("doubtful")
    assert np.allclose(hand.landmarks.keypoints, wrong)


def test_dev_photo_mirrored_reading_of_a_hand_on_a_phone_reread_with_the_body(thorough):
    """hard_dev's woman holding a phone: her left thumb on the phone is first read as the little finger (the
    reading is the hand's mirror image); the body's hand points say so and the mirrored re-read agrees."""
    from PIL import Image

    from handrecon.data.devdata import default_devdata_dir

    root = default_devdata_dir()
    path = None if root is None else root / "hard_dev" / "images" / "pixie_photo-of-woman-holding-mobil.jpg"
    if path is None or not path.is_file():
        pytest.skip("hard_dev split (../shared/devdata/hard_dev) not present")
    dets = thorough.detect(np.asarray(Image.open(path).convert("RGB")))
    records = {d.handedness: d.report["finger_order"] for d in dets}
    assert set(records) == {"left", "right"}
    assert records["right"]["body"] == "agrees" and records["right"]["action"] == "none"
    left = records["left"]
    assert left["first_reading"]["body"] == "reversed" and left["body"] == "agrees"
    assert left["action"].startswith("re-read")
    (d,) = [d for d in dets if d.handedness == "left"]
    thumb_tip, little_tip = d.keypoints[4], d.keypoints[20]
    assert thumb_tip[1] < little_tip[1]  # the thumb lies on the phone, above the curled little finger
