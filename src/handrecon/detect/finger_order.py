"""A hand reading's finger order checked against the body's own hand points.

The hand-landmark model sometimes reads a hand as its mirror image: a left hand seen from the back drawn as a
palm-facing hand, with the index on the little finger and the thumb on the wrong side, at full hand presence.
Its mirrored re-read often makes the same mistake, so the reading alone cannot show it. The pose model, which
sees the whole arm, places its own points on the hand (BlazePose 17-22: pinky, index and thumb knuckles). For a
hand attached to a body wrist, the direction from the body's pinky point to its index point is compared with the
reading's little-finger MCP -> index MCP direction (`body_finger_order`):

- "agrees": cosine >= AGREES_FROM;
- "reversed": cosine <= REVERSED_UP_TO;
- "unclear": in between (a hand turned edge-on, or points in doubt);
- "unresolved": the body says nothing, because its pinky or index point is unlikely visible or its two points
  are bunched (the pose model does not resolve the hand: its points then sit near the wrist).

A reversed hand is read again by crops that let the model choose the other finger order (`reread_reversed`):
the hand's own settled crop read mirrored, then the crop turned along the body's wrist -> knuckles direction
(settled). The first re-read that passes the presence rule, is still attached to that body wrist and agrees with
the body replaces the reading. When none does, the reading stays and its record says the finger order is
doubtful. Relabelling the fingers of the reading instead would not do: the thumb of a mirrored reading lies on
the wrong side of the hand, and no renaming puts it on the real thumb.

The thresholds are geometric, not fitted. No tuning data the project may use holds people (synthetic renders show
hands only), so they are set by symmetry: a reading agrees when the two directions lie within 60 degrees of
each other and is reversed when they lie within 60 degrees of opposite; the body resolves the hand when its
pinky-to-index span is at least half the reading's knuckle span, and sees it when the pose model gives both points
a visibility of at least 0.5 (the body wrists' rule, `ThoroughSettings.min_wrist_visibility`). What they give
on the dev photos is in the README's detector paragraph and `bench_detection.py --finger-order`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from handrecon.detect.body import BodyHand
from handrecon.detect.crops import RotatedRect, angle_up
from handrecon.detect.landmarks import HandLandmarkModel, HandLandmarks
from handrecon.detect.proposals import Proposal
from handrecon.detect.verify import same_hand, settle, wrist_gap

AGREES_FROM = 0.5  # cos 60 degrees
REVERSED_UP_TO = -0.5  # cos 120 degrees
MIN_SPAN_RATIO = 0.5  # body pinky-to-index span over the reading's little-to-index MCP span
MIN_KNUCKLE_VISIBILITY = 0.5


@dataclass(frozen=True)
class FingerOrderCheck:
    verdict: str  # "agrees" | "reversed" | "unclear" | "unresolved"
    cosine: float  # body pinky -> index against the reading's little MCP -> index MCP
    span_ratio: float  # body span over the reading's span
    visibility: float  # the body's pinky and index points (the lower)

    def as_dict(self) -> dict:
        return {
            "body": self.verdict,
            "cosine": round(self.cosine, 3),
            "span_ratio": round(self.span_ratio, 3),
            "visibility": round(self.visibility, 3),
        }


def body_finger_order(keypoints: np.ndarray, body: BodyHand) -> FingerOrderCheck | None:
    """What the body's hand points say of a reading's finger order; None when the body has no hand points."""
    if body.knuckles is None:
        return None
    pinky, index = body.knuckles[0], body.knuckles[1]
    u = np.asarray(index, dtype=np.float64) - pinky
    v = np.asarray(keypoints[5], dtype=np.float64) - keypoints[17]
    nu, nv = float(np.linalg.norm(u)), float(np.linalg.norm(v))
    cosine = float(u @ v / (nu * nv)) if nu > 0 and nv > 0 else 0.0
    ratio = nu / max(nv, 1e-9)
    if body.knuckle_visibility < MIN_KNUCKLE_VISIBILITY or ratio < MIN_SPAN_RATIO:
        verdict = "unresolved"
    elif cosine >= AGREES_FROM:
        verdict = "agrees"
    elif cosine <= REVERSED_UP_TO:
        verdict = "reversed"
    else:
        verdict = "unclear"
    return FingerOrderCheck(verdict, cosine, ratio, body.knuckle_visibility)


def along_body_rect(lm: HandLandmarks, body: BodyHand) -> RotatedRect:
    """The reading's own crop, turned so that the body's wrist -> knuckles direction points up (the landmark
    model's upright hand), with the knuckles taken as MediaPipe's pose->hand rule does, (2 index + pinky) / 3."""
    pinky, index = body.knuckles[0], body.knuckles[1]
    r = lm.rect
    return RotatedRect(r.cx, r.cy, r.width, r.height, angle_up(body.wrist, (2 * index + pinky) / 3))


def reread_reversed(
    model: HandLandmarkModel,
    rgb: np.ndarray,
    lm: HandLandmarks,
    body: BodyHand,
    presence_threshold: float,
    max_rounds: int = 4,
    others: list[HandLandmarks] | None = None,
) -> tuple[HandLandmarks, str] | None:
    """A reading of the hand whose finger order agrees with the body, or None. Tried in turn: the settled crop
    read mirrored (one run), the crop turned along the body's hand (settled). Kept when it passes the presence
    threshold, its wrist is within half a hand of the body's wrist, it is none of the `others` (the other hands
    found: two hands held together) and the body agrees with it."""

    def good(new: HandLandmarks) -> bool:
        if new.presence < presence_threshold:
            return False
        if any(same_hand(new, o) for o in others or []):
            return False
        if wrist_gap(new, body) is None:
            return False
        check = body_finger_order(new.keypoints, body)
        return check is not None and check.verdict == "agrees"

    mirrored = model(rgb, lm.rect, mirror=True)
    if good(mirrored):
        return mirrored, "the settled crop read mirrored"
    turned, _ = settle(model, rgb, Proposal(along_body_rect(lm, body), "finger-order", 0.0), max_rounds)
    if good(turned):
        return turned, "the crop turned along the body's wrist -> knuckles"
    return None


def describe(check: FingerOrderCheck) -> str:
    return (
        f"body {check.verdict} (cos {check.cosine:+.2f}, span ratio {check.span_ratio:.2f}, "
        f"visibility {check.visibility:.2f}; {math.degrees(math.acos(max(-1.0, min(1.0, check.cosine)))):.0f} deg)"
    )
