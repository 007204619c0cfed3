"""Verification of hand proposals by the hand-landmark model, duplicate removal, and handedness.

Each proposal's crop goes through the landmark model; the crop is re-centred on the landmarks (MediaPipe's
tracking crop) and read again until it settles (centre within 5 % of the hand and size within 5 %, at most
`max_rounds`). A proposal is kept when the settled crop's hand-presence probability passes
`presence_threshold` (chosen on data by a stated rule, see `PRESENCE_THRESHOLD`). Two kept hands are one when
their landmarks coincide (mean distance under a quarter of the hand) or when their boxes nearly coincide
and their wrists too; touching or interlocked hands differ in both and stay two.

Handedness: the landmark model's probability of a right hand, combined in log-odds with the body's side
when the hand's wrist is the wrist of a body found by the pose model (`BODY_SIDE_PROBABILITY`, scaled by the
wrist's visibility). The source and the combined confidence are recorded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from handrecon.detect.body import BodyHand
from handrecon.detect.hand_prior import PriorCheck, check_landmarks
from handrecon.detect.landmarks import HandLandmarkModel, HandLandmarks, rect_from_hand_landmarks
from handrecon.detect.proposals import Proposal
from handrecon.detect.ssd import box_iou

# Hand-presence threshold of the landmark model's settled crop, one value for every photo. Rule: the lowest
# threshold on a 0.1 grid at which the detections on the hard_dev split reach 95 % precision
# (`benchmarks/bench_detection.py --sweep` prints the sweep; 0.8 gave 87 %, 0.9 gave 96 %). Not tuned per photo.
PRESENCE_THRESHOLD = 0.9
# A hand under that threshold is still kept when a second, independent reading agrees: the landmark model on
# the same crop flipped left-right (`HandLandmarkModel(mirror=True)`), and its landmarks are anatomically
# plausible (`handrecon.detect.hand_prior`). Kept when sqrt(presence * mirrored presence) >= TWO_READ_THRESHOLD.
# Rule, on data the project may tune on (`benchmarks/bench_detection.py --calibrate-prior`: hands of 400
# synthetic renders and 3396 non-hand crops of the renders and of a public-domain photo): the lowest value on
# a 0.1 grid at which no more non-hand crops pass than with presence >= PRESENCE_THRESHOLD alone (1 of 3396
# both); it keeps 90.7 % of the synthetic hands against 76.0 % for presence alone. Not on by default: on the
# real photos of hard_dev (evaluation) it added 1 hand and 3 false positives (precision 98.1 % -> 93.0 %), so
# the synthetic non-hand crops do not stand for the false positives of real photos (mostly crops beside or
# on real hands). `ThoroughSettings(two_read_threshold=TWO_READ_THRESHOLD)` turns it on.
TWO_READ_THRESHOLD = 0.8
# A reading this unlikely to be a hand is not re-cropped. Rule, on tuning data (`benchmarks/bench_detection.py
# --calibrate-fallbacks 200`: 1053 palm and neighbour proposals of synthetic renders traced through the settle):
# the highest value on a 0.1 grid that gives up no more proposals settling on a kept hand than the former 0.05
# (14 of 273 against no give-up at all, for both); 0.1 saves 57 more of 3321 runs, 0.2 loses 2 more hands.
GIVE_UP_BELOW = 0.1
# Probability that the pose model names the side of a clearly visible wrist correctly (prior, see module notes).
BODY_SIDE_PROBABILITY = 0.95


@dataclass
class VerifiedHand:
    landmarks: HandLandmarks
    proposal: Proposal
    rounds: int  # landmark-model runs until the crop settled
    sources: list[str] = field(default_factory=list)  # every proposal source that found this hand
    handedness: str = "right"
    handedness_confidence: float = 0.5
    handedness_source: str = "landmarks"
    body_side: str | None = None
    mirrored_presence: float | None = None  # presence of the mirrored re-read (only under the threshold)
    prior: PriorCheck | None = None  # knowledge-prior measures (only under the threshold)
    kept_because: str = ""
    # the image the hand was read on when it is not the photo itself (a masked-wrist read: the photo with other
    # hands' palms masked); re-reads of this hand use it too
    read_on: np.ndarray | None = None
    # the finger order checked against the body's hand points (`handrecon.detect.finger_order`); None: no check
    finger_order: dict | None = None

    @property
    def presence(self) -> float:
        return self.landmarks.presence


def settle(
    model: HandLandmarkModel,
    rgb: np.ndarray,
    prop: Proposal,
    max_rounds: int = 4,
    give_up_below: float = GIVE_UP_BELOW,
    known: list[HandLandmarks] | None = None,
) -> tuple[HandLandmarks, int]:
    """The landmark model on the proposal, re-cropped around its own landmarks until the crop settles.
    With `known` (hands already verified), the re-crops stop as soon as a reading is one of them: its next
    crop would be that hand's own settled crop, so further runs cannot add a hand."""
    lm = model(rgb, prop.rect)
    rounds = 1
    while rounds < max_rounds and lm.presence >= give_up_below:
        if known and any(same_hand(lm, k) for k in known):
            break
        rect = rect_from_hand_landmarks(lm.keypoints)
        moved = math.hypot(rect.cx - lm.rect.cx, rect.cy - lm.rect.cy) / max(rect.size, 1.0)
        grown = abs(math.log(max(rect.size, 1.0) / max(lm.rect.size, 1.0)))
        if moved < 0.05 and grown < 0.05:
            break
        nxt = model(rgb, rect)
        rounds += 1
        if nxt.presence < lm.presence - 0.2:  # the re-crop lost the hand: keep the better reading
            break
        lm = nxt
    return lm, rounds


def same_hand(a: HandLandmarks, b: HandLandmarks) -> bool:
    """One hand read twice: landmarks coincide, or boxes and wrists coincide (e.g. read as the other side)."""
    size = min(a.size_px, b.size_px)
    if np.linalg.norm(a.keypoints - b.keypoints, axis=1).mean() < 0.25 * size:
        return True
    box = lambda k: np.r_[k.min(0), k.max(0)]  # noqa: E731
    wrist = np.linalg.norm(a.keypoints[0] - b.keypoints[0])
    return box_iou(box(a.keypoints), box(b.keypoints)) > 0.75 and wrist < 0.25 * size


def part_of(small: HandLandmarks, large: HandLandmarks) -> bool:
    """A 'hand' under half the size of another with most of its landmarks inside that hand's box
    (10 % margin): a finger
    or a knuckle of the larger hand read as a hand."""
    if small.size_px >= 0.5 * large.size_px:
        return False
    margin = 0.1 * large.size_px
    lo, hi = large.keypoints.min(0) - margin, large.keypoints.max(0) + margin
    inside = np.all((small.keypoints >= lo) & (small.keypoints <= hi), axis=1)
    return bool(inside.mean() >= 0.5)


def remove_duplicates(hands: list[VerifiedHand]) -> list[VerifiedHand]:
    """Keep the most present reading of each hand; the others' sources are recorded on it. Parts of a
    larger hand (see `part_of`) are dropped."""
    kept: list[VerifiedHand] = []
    for h in sorted(hands, key=lambda v: -v.presence):
        twin = next((k for k in kept if same_hand(k.landmarks, h.landmarks) or part_of(h.landmarks, k.landmarks)), None)
        if twin is None:
            h.sources = h.sources or [h.proposal.source]
            kept.append(h)
        else:
            twin.sources += [s for s in (h.sources or [h.proposal.source]) if s not in twin.sources]
    return kept


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


def wrist_gap(lm: HandLandmarks, body: BodyHand) -> float | None:
    """Distance (pixels) from a reading's wrist to a body wrist, or None when it is half a hand or more: the
    reading is then not the hand at that wrist."""
    d = float(np.linalg.norm(lm.keypoints[0] - body.wrist))
    return d if d < 0.5 * lm.size_px else None


def attach_to_bodies(hands: list[VerifiedHand], body_hands: list[BodyHand]) -> dict[int, BodyHand]:
    """The body wrist of each hand (index in `hands` -> wrist): one body wrist per hand, nearest first, within
    half a hand of the hand's wrist (`wrist_gap`)."""
    pairs = []
    for i, h in enumerate(hands):
        for j, b in enumerate(body_hands):
            d = wrist_gap(h.landmarks, b)
            if d is not None:
                pairs.append((d, i, j))
    body_of: dict[int, BodyHand] = {}
    used: set[int] = set()
    for _, i, j in sorted(pairs):
        if i not in body_of and j not in used:
            body_of[i] = body_hands[j]
            used.add(j)
    return body_of


def assign_handedness(hands: list[VerifiedHand], body_hands: list[BodyHand]) -> None:
    """Body side (the hand's body wrist, `attach_to_bodies`) combined with the landmark model's handedness."""
    body_of = attach_to_bodies(hands, body_hands)
    for i, h in enumerate(hands):
        z = _logit(h.landmarks.right)
        b = body_of.get(i)
        h.handedness_source = "landmarks"
        if b is not None:
            p_body = 0.5 + (BODY_SIDE_PROBABILITY - 0.5) * b.visibility
            z += _logit(p_body) if b.side == "right" else -_logit(p_body)
            h.body_side = b.side
            h.handedness_source = "body+landmarks"
        p_right = 1.0 / (1.0 + math.exp(-z))
        h.handedness = "right" if p_right >= 0.5 else "left"
        h.handedness_confidence = max(p_right, 1.0 - p_right)


class HandVerifier:
    def __init__(
        self,
        presence_threshold: float = PRESENCE_THRESHOLD,
        max_rounds: int = 4,
        two_read_threshold: float | None = None,
    ) -> None:
        self.model = HandLandmarkModel()
        self.presence_threshold = presence_threshold
        self.max_rounds = max_rounds
        self.two_read_threshold = two_read_threshold  # None: presence alone decides
        self.best_rejected = 0.0  # the highest presence of a settled reading the last call rejected

    def accept(self, rgb: np.ndarray, lm: HandLandmarks, prop: Proposal, rounds: int) -> VerifiedHand | None:
        """The verified hand of a settled reading, with the reason it is kept; None when it is not a hand."""
        runs = f"after {rounds} landmark run(s) on the settled crop"
        if lm.presence >= self.presence_threshold:
            why = f"hand presence {lm.presence:.3f} >= {self.presence_threshold} {runs}"
            return VerifiedHand(lm, prop, rounds, kept_because=why)
        t = self.two_read_threshold
        if t is None or lm.presence < t * t:  # even a certain second reading could not lift it to t
            return None
        mirrored = self.model(rgb, lm.rect, mirror=True).presence
        score = math.sqrt(lm.presence * mirrored)
        if score < t:
            return None
        (prior,) = check_landmarks(lm.keypoints[None], lm.world[None])
        if not prior.plausible():
            return None
        why = (
            f"hand presence {lm.presence:.3f} {runs} and {mirrored:.3f} read mirrored: two-read score "
            f"{score:.3f} >= {t}; knowledge prior plausible ({prior.describe()})"
        )
        return VerifiedHand(lm, prop, rounds, mirrored_presence=mirrored, prior=prior, kept_because=why)

    def __call__(
        self, rgb: np.ndarray, proposals: list[Proposal], known: list[VerifiedHand] | None = None
    ) -> list[VerifiedHand]:
        """Verified hands of the proposals, duplicates removed. `known`: hands verified before; a proposal
        whose reading is one of them stops re-cropping (see `settle`) and its source is recorded on it."""
        out: list[VerifiedHand] = []
        seen = list(known or [])  # grows with each hand verified here
        self.best_rejected = 0.0
        for p in proposals:
            lm, rounds = settle(self.model, rgb, p, self.max_rounds, known=[k.landmarks for k in seen])
            twin = next((k for k in seen if same_hand(lm, k.landmarks)), None)
            if twin is not None:
                twin.sources = twin.sources or [twin.proposal.source]
                if p.source not in twin.sources:
                    twin.sources.append(p.source)
                continue
            hand = self.accept(rgb, lm, p, rounds)
            if hand is not None:
                out.append(hand)
                seen.append(hand)
            else:
                self.best_rejected = max(self.best_rejected, lm.presence)
        return remove_duplicates(out)

    @staticmethod
    def merge(first: list[VerifiedHand], more: list[VerifiedHand]) -> list[VerifiedHand]:
        """Hands of two verification rounds, duplicates removed (sources of both kept)."""
        return remove_duplicates(first + more)
