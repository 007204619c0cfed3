"""The thorough front end: hand proposals from several sources, each verified by the hand-landmark model.

1. Palm detector on the whole image (letterboxed to 192x192, as MediaPipe does; when it finds nothing, on
   the image zoomed out with a black margin).
2. Unless the image is a close-up (a verified hand spans a third of the shorter image side), the palm
   detector on a pyramid of overlapping tiles (images well above the detector's resolution only); the pose
   models on the image (and, unless a close-up, its half-size tiles): a region at each wrist of every person.
   No body pass beside a hand that fills the frame (half the shorter side): no body can be in view there.
3. A body wrist with no hand whose forearm crop holds a verified hand's palm (two hands held together): that
   crop read again with the verified palm masked grey (`handrecon.detect.masking`), kept when its wrist is
   that body wrist.
4. When nothing was found, the fallbacks in turn until one finds a hand (order: `ZOOM_FIRST`): the palm detector
   on the image zoomed out by the factors of `ZOOM_PYRAMID` (detections at the usual `palm_min_score`); upright
   windows of half and three quarters of the shorter side (large gloved or half-hidden hands that no detector
   proposes; none after a rejected palm proposal that read a hand-like presence, `SCAN_SKIP_PRESENCE`); the palm
   detections scoring under `palm_min_score` (down to `WEAK_PALM_FLOOR`) of the palm runs already made.
5. Crops beside each hand found (the second of two touching hands); beside a frame-filling hand only those
   centred in the frame; on a close-up only where the whole-image palm runs saw something away from the verified
   palms (`handrecon.detect.close_up`). Optionally (`forearm`), a crop continuing the forearm of each body
   wrist without a hand.
6. Proposals merged by an NMS that keeps the two wrists of a body apart, then verified (crop settled on the
   landmarks, hand-presence threshold), duplicates removed, 'hands' too small for the face they lie on
   dropped (`handrecon.detect.plausibility`), handedness from the landmarks and the body.
7. A hand at a body wrist: its finger order against the body's own hand points, re-read when they say it is
   reversed (`handrecon.detect.finger_order`); no model run unless they do.

A proposal whose reading is a hand already verified stops re-cropping (it cannot add a hand).
Cost (measured by benchmarks/bench_detection.py): a 256x256 one-hand close-up costs the palm pass and about
five landmark runs (5.25 per image on the 28 close-ups of `--close-ups 28`, 0.5 of them from the 14 runs of the
one image where nothing is found; README gives the time against the fast front end); a large photo with people
adds tiles, pose landmarks per person and landmark runs per proposal. The fast front end is MediaPipe's legacy
graph (`MediaPipeHands`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from handrecon.detect.body import BodyHand, BodyHandProposer, forearm_rect
from handrecon.detect.close_up import NEIGHBOUR_MIN_PALM, palm_evidence, strong_enough
from handrecon.detect.crops import RotatedRect
from handrecon.detect.finger_order import body_finger_order, describe, reread_reversed
from handrecon.detect.landmarks import HandLandmarks, rect_from_hand_landmarks
from handrecon.detect.masking import mask_palms, palm_in_rect
from handrecon.detect.mediapipe_hands import TTAConfig
from handrecon.detect.plausibility import face_feature
from handrecon.detect.proposals import (
    Proposal,
    neighbour_rects,
    palm_rect,
    proposal_nms,
    scan_windows,
    tile_pyramid,
    zoom_pyramid,
    zoomed_out,
)
from handrecon.detect.ssd import palm_detector
from handrecon.detect.types import HandDetection
from handrecon.detect.verify import (
    PRESENCE_THRESHOLD,
    HandVerifier,
    VerifiedHand,
    assign_handedness,
    attach_to_bodies,
    same_hand,
    settle,
)

# Lowest palm-detector score verified when nothing else found a hand (the fallback's proposals; a hand is still
# kept only by the presence rule). Rule, on tuning data the project may use (200 synthetic renders with their
# hands painted grey and 200 crops of matplotlib's public-domain grace_hopper.jpg: hand-free images, where every
# hand is false; the whole thorough flow run on each): the lowest floor on a 0.1 grid at which the fallback adds
# at most 1 false hand per 100 hand-free images. `benchmarks/bench_detection.py --calibrate-fallbacks 200`:
# floors 0.1 / 0.2 / 0.3 / 0.4 added 24 / 10 / 6 / 3 false hands on the 400 (the other passes: 31), so 0.4.
# The same flow on 200 renders with hands gained no hand at any floor (their missed hands give no palm detection
# at all): the fallback is for real photos' large hands cut by the frame, whose palm the detector scores low
# even zoomed out. The evidence is thin (a few false hands in 400 images).
WEAK_PALM_FLOOR = 0.4

# Zoom-out factors of the palm detector's last-resort pyramid (when no other pass, weak palms included, found a
# hand): powers of sqrt(2) beside the first pass's 1.5, verified by the same presence rule. The palm detector's
# score of a large hand cut by the frame varies with the margin around it, and not monotonically. Rule, on the
# hand-free tuning data of WEAK_PALM_FLOOR (`benchmarks/bench_detection.py --calibrate-fallbacks 200`): the most
# levels of the grid sqrt(2), 2, 2 sqrt(2), 4 (in that order) at which the two fallbacks together (weak palms
# at their floor, then the pyramid) add at most 1 false hand per 100 hand-free images. Levels 1 / 2 / 3 / 4 added
# 0 / 1 / 2 / 2 false hands on the 400 (the weak palms 3), so 2 levels (4 of 400). On the 62 of 200 renders where
# nothing else found a hand, 2 levels gained 1 hand and gave 2 false ones (4 levels: 4 and 4).
# The pyramid now runs first of the fallbacks (see ZOOM_FIRST, with the tuning data of that order).
ZOOM_PYRAMID: tuple[float, ...] = (2**0.5, 2.0)

# No scan windows after a palm proposal read at least this hand presence and was still rejected: the palm detector
# and the landmark model already agree on where the hand-like thing is, and the scan is for hands that no
# detector proposes. Rule, on tuning data (`benchmarks/bench_detection.py --calibrate-scan 120`: 120 synthetic
# renders, a one-hand close-up crop of each, the renders with their hands painted grey and 120 crops of the
# public-domain photo; 286 images reach the scan, 4423 landmark runs): the lowest value on a 0.1 grid from 0.3
# at which no image loses a true hand that the scan found. 0.5 / 0.6 / 0.7 skip 38 / 31 / 23 images and lose
# 2 / 2 / 1 true hands (rejected palm readings 0.496, 0.639, 0.739 before them); 0.8 skips 12 images (251 runs,
# 5.7 % of the scan's) and loses none. On the close-ups of `--close-ups` it skips nothing (their rejected palm
# readings are 0.57 and 0.71).
SCAN_SKIP_PRESENCE = 0.8

# The order of the nothing-found fallbacks: the zoom-out pyramid (two palm runs, then landmark runs only on what
# the detector finds) before the scan windows (13 landmark runs on a square image) and the weak palms, each later
# one only when the earlier found nothing. Where the pyramid finds nothing the hands are those of the order scan,
# weak palms, pyramid; where it finds a hand, the scan and weak palms no longer run. Rule, on tuning data
# (`benchmarks/bench_detection.py --calibrate-order 120`: the 286 images of `--calibrate-scan 120` that reach the
# fallbacks): the pyramid first when, in every group, it finds at least as many true hands and no more false hands
# than the order scan, weak palms, pyramid. Renders (46 images): 4 true / 6 false hands against 3 / 8; close-ups
# (12): 3 / 1 against 3 / 1; hand-free (228): 0 / 7 against 0 / 7 (the pyramid found nothing there). Landmark runs
# 4576 against 4668, palm runs 538 against 533. On the close-ups of `--close-ups` it saves the 13 scan windows and
# the weak palms of the two images the pyramid answers (hand_002, hand_003).
ZOOM_FIRST = True

# proposal sources of the nothing-found fallbacks
FALLBACK_SOURCES = ("scan", "palm-weak", "palm-zoom")

DETECTOR_NAME = "handrecon-multisource (mediapipe-0.10.21 models)"


@dataclass(frozen=True)
class ThoroughSettings:
    presence_threshold: float = PRESENCE_THRESHOLD
    two_read_threshold: float | None = None  # e.g. TWO_READ_THRESHOLD: see verify.py (off: hard_dev precision)
    palm_min_score: float = 0.5
    # when no other pass found a hand: palm detections down to this score (of the image and zoomed-out runs
    # already made), verified by the same presence rule. None: off. See WEAK_PALM_FLOOR.
    weak_palm_floor: float | None = WEAK_PALM_FLOOR
    # when nothing else found a hand: the palm detector on the image zoomed out by these factors (ZOOM_PYRAMID)
    zoom_pyramid: tuple[float, ...] = ZOOM_PYRAMID
    zoom_first: bool = ZOOM_FIRST  # the zoom-out pyramid before the scan windows and weak palms (see ZOOM_FIRST)
    tiles: bool = True
    body: bool = True
    close_up_fraction: float = 1 / 3  # a hand this large (of the shorter image side): no tiles
    # a hand this large: no body pass either. The shoulders of a person (about 2.4 hand lengths apart:
    # shoulder breadth 0.259, hand length 0.108 of stature, Drillis & Contini 1966) at that hand's depth
    # would span more than the frame, so no body the pose detector needs can be in view beside it.
    frame_filling_fraction: float = 0.5
    max_rounds: int = 4
    neighbours: bool = True  # crops beside each hand: the second of two touching hands
    # on a close-up, neighbour crops only where a palm anchor scored this much (see close_up.NEIGHBOUR_MIN_PALM)
    neighbour_min_palm: float | None = NEIGHBOUR_MIN_PALM
    scan: bool = True  # when nothing else found a hand: large windows read by the landmark model
    # no scan windows after a palm proposal read at least this presence and was rejected (None: off)
    scan_skip_presence: float | None = SCAN_SKIP_PRESENCE
    forearm: bool = False  # a crop along the forearm of each visible body wrist that has no hand yet
    # a body wrist with no hand whose forearm crop holds a verified hand's palm (two hands together): that
    # crop read again with the verified palms filled grey (`handrecon.detect.masking`)
    masked_wrists: bool = True
    min_wrist_visibility: float = 0.5  # body wrists the forearm and masked reads start from
    # a hand attached to a body wrist: its finger order checked against the body's hand points, and re-read when
    # they say it is reversed (`handrecon.detect.finger_order`)
    body_finger_order: bool = True


class ThoroughHands:
    """Every hand in a photo, from palm, tile and body proposals verified by the landmark model."""

    def __init__(self, max_hands: int | None = None, settings: ThoroughSettings | None = None) -> None:
        self.settings = settings or ThoroughSettings()
        self.max_hands = max_hands
        self.palms = palm_detector(self.settings.palm_min_score)
        self.body = BodyHandProposer()
        self.verifier = HandVerifier(
            self.settings.presence_threshold, self.settings.max_rounds, self.settings.two_read_threshold
        )
        self.last_stats: dict = {}

    def close(self) -> None:
        pass

    def __enter__(self) -> ThoroughHands:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -------------------------------------------------------------------------------------------
    def palm_proposals(
        self,
        rgb: np.ndarray,
        regions: list[RotatedRect | None],
        source: str,
        weak: list[Proposal] | None = None,
        anchors: list[tuple[np.ndarray, np.ndarray]] | None = None,
    ) -> list[Proposal]:
        """Palm detections over the regions; with `weak`, the same runs' detections scoring in
        [weak_palm_floor, palm_min_score) are appended to it (source "palm-weak"); with `anchors`, each run's
        anchor centres and scores (see `handrecon.detect.close_up`)."""
        floor = self.settings.weak_palm_floor if weak is not None else None
        out: list[Proposal] = []
        for r in regions:
            strong, low = self.palms.detect_with_weak(rgb, r, floor)
            if anchors is not None and self.palms.last_anchor_scores is not None:
                anchors.append(strong_enough(self.palms.last_anchor_scores))
            out += [Proposal(palm_rect(d), source, d.score) for d in strong]
            if weak is not None:
                weak += [Proposal(palm_rect(d), "palm-weak", d.score) for d in low]
        return out

    def verified(
        self, rgb: np.ndarray, previous: list[HandDetection] | None = None
    ) -> tuple[list[VerifiedHand], list[BodyHand]]:
        """Verified hands and the body wrists found (before handedness is assigned). `previous`: hands of the
        previous video frame, whose landmark crops are proposals too ("track")."""
        H, W = rgb.shape[:2]
        s = self.settings
        weak: list[Proposal] = []
        anchors: list[tuple[np.ndarray, np.ndarray]] = []  # the whole-image palm runs' scores (close-up rules)
        props = self.palm_proposals(rgb, [None], "palm", weak, anchors)
        if not props:  # a palm filling the frame needs context around it
            props = self.palm_proposals(rgb, [zoomed_out(W, H)], "palm", weak, anchors)
        if previous:
            props += [Proposal(rect_from_hand_landmarks(d.keypoints), "track", 1.0) for d in previous]
        hands = self.verifier(rgb, proposal_nms(props))
        palm_read = self.verifier.best_rejected  # the best presence a rejected palm proposal read
        stats = {"proposals": len(props), "tiles": 0, "people": 0}
        if not hands:  # a hand filling the frame: the whole image as its crop
            whole = Proposal(RotatedRect.around(0, 0, W, H), "whole-image", 0.0)
            hands = self.verifier(rgb, [whole])
            stats["proposals"] += 1
        largest = max((h.landmarks.size_px for h in hands), default=0.0) / min(H, W)
        close_up = largest >= s.close_up_fraction
        stats["close_up"] = close_up
        body_hands: list[BodyHand] = []
        poses: list = []
        extra: list[Proposal] = []
        tiles = [] if close_up else tile_pyramid(W, H)
        if s.tiles and tiles:
            stats["tiles"] = len(tiles)
            extra += self.palm_proposals(rgb, tiles, "palm-tile")
        if s.body and largest < s.frame_filling_fraction:  # on a close-up the whole image only
            regions = [None] + [t for t in tiles if t.size >= max(W, H) / 2 - 1]
            body_hands, poses = self.body(rgb, regions)
            stats["people"] = len(poses)
            extra += [Proposal(b.rect, "body", b.visibility, b.side, b.person) for b in body_hands]
        # proposals already explained by a verified hand need no second verification
        extra = [p for p in extra if not _covered(p, hands)]
        if extra:
            stats["proposals"] += len(extra)
            hands = self.verifier.merge(hands, self.verifier(rgb, proposal_nms(extra), known=hands))
        if s.forearm and body_hands:  # a wrist with no hand yet: the region continuing its forearm
            wrists = [b for b in body_hands if b.visibility >= s.min_wrist_visibility and not _has_hand(b, hands)]
            fore = [p for p in map(_forearm_proposal, wrists) if p is not None and _inside(p.rect, W, H)]
            stats["proposals"] += len(fore)
            hands = self.verifier.merge(hands, self.verifier(rgb, fore, known=hands))
        if s.masked_wrists and body_hands and hands:
            more = self.masked_wrist_reads(rgb, body_hands, hands)
            stats["masked_reads"] = len(more)
            hands = self.verifier.merge(hands, [h for h, _ in more if h is not None])
        if not hands:
            hands = self.fallback_hands(rgb, palm_read, weak, stats)
        if s.neighbours and hands:
            near = self.neighbour_proposals(hands, largest, W, H, anchors)
            stats["proposals"] += len(near)
            hands = self.verifier.merge(hands, self.verifier(rgb, near, known=hands))
        if poses:
            kept = [h for h in hands if not face_feature(h.landmarks, poses)]
            stats["dropped_on_face"] = len(hands) - len(kept)
            hands = kept
        self.last_stats = stats
        return hands, body_hands

    def fallback_hands(
        self, rgb: np.ndarray, palm_read: float, weak: list[Proposal], stats: dict
    ) -> list[VerifiedHand]:
        """When no pass found a hand, the fallbacks in turn until one gives a hand: the scan windows (large hands
        no detector proposes), the weak palm detections of the runs already made, the zoom-out pyramid; with
        `zoom_first`, the pyramid before the other two (see ZOOM_FIRST)."""
        H, W = rgb.shape[:2]
        s = self.settings

        def scan() -> list[VerifiedHand]:
            if not s.scan:
                return []
            windows = self.scan_proposals(W, H, palm_read)
            stats["proposals"] += len(windows)
            stats["scan_windows"] = len(windows)
            return self.verifier(rgb, windows)

        def weak_palms() -> list[VerifiedHand]:
            stats["proposals"] += len(weak)
            return self.verifier(rgb, proposal_nms(weak)) if weak else []

        def zoom() -> list[VerifiedHand]:
            if not s.zoom_pyramid:
                return []
            stats["zoom_levels"] = len(s.zoom_pyramid)
            return self.zoom_pyramid_hands(rgb, s.zoom_pyramid)

        for fallback in (zoom, scan, weak_palms) if s.zoom_first else (scan, weak_palms, zoom):
            hands = fallback()
            if hands:
                return hands
        return []

    def scan_proposals(self, width: int, height: int, palm_read: float) -> list[Proposal]:
        """The scan windows, or none after a palm proposal that read a hand-like presence `palm_read` and was
        rejected (see SCAN_SKIP_PRESENCE)."""
        skip = self.settings.scan_skip_presence
        if skip is not None and palm_read >= skip:
            return []
        return [Proposal(r, "scan", 0.0) for r in scan_windows(width, height)]

    def zoom_pyramid_hands(self, rgb: np.ndarray, factors: tuple[float, ...]) -> list[VerifiedHand]:
        """Hands from palm detections (score >= palm_min_score) on the image zoomed out by each factor, verified
        by the presence rule; level by level, stopping at the first level that gives a hand."""
        H, W = rgb.shape[:2]
        for region in zoom_pyramid(W, H, factors):
            props = self.palm_proposals(rgb, [region], "palm-zoom")
            hands = self.verifier(rgb, proposal_nms(props)) if props else []
            if hands:
                return hands
        return []

    def neighbour_proposals(
        self, hands: list[VerifiedHand], largest: float, width: int, height: int, anchors: list
    ) -> list[Proposal]:
        """Crops beside each hand not already on a verified hand. Beside a frame-filling hand only those centred
        in the frame; on a close-up only those where the whole-image palm runs (`anchors`) saw something away
        from the verified palms (`handrecon.detect.close_up`)."""
        s = self.settings
        near = [Proposal(r, "neighbour", 0.0) for h in hands for r in neighbour_rects(h.landmarks.rect)]
        near = [p for p in near if not _covered(p, hands)]
        if largest >= s.frame_filling_fraction:  # a crop centred outside the frame cannot add a hand there
            near = [p for p in near if _inside(p.rect, width, height)]
        if s.neighbour_min_palm is not None and largest >= s.close_up_fraction:
            found = [h.landmarks for h in hands]
            near = [p for p in near if palm_evidence(p.rect, anchors, found) >= s.neighbour_min_palm]
        return near

    def masked_wrist_reads(
        self, rgb: np.ndarray, body_hands: list[BodyHand], hands: list[VerifiedHand]
    ) -> list[tuple[VerifiedHand | None, HandLandmarks]]:
        """The second of two hands held together. For each visible body wrist with no verified hand whose
        forearm crop (`forearm_rect`) holds the palm of a verified hand, that crop is read on the image with
        those palms filled grey, so the landmark model cannot lock onto them again. The reading is kept when
        it passes the verifier, is no hand already found, and its wrist is that body wrist (within half a hand,
        as for the body's side): the body says a second hand is there, the mask says which hand not to read.
        Returns (kept hand or None, reading) per crop read."""
        out: list[tuple[VerifiedHand | None, HandLandmarks]] = []
        for b in body_hands:
            if b.visibility < self.settings.min_wrist_visibility or _has_hand(b, hands):
                continue
            prop = _forearm_proposal(b)
            if prop is None or not _inside(prop.rect, rgb.shape[1], rgb.shape[0]):
                continue
            inside = [h.landmarks for h in hands if palm_in_rect(h.landmarks, prop.rect)]
            if not inside:  # nothing to hide: the forearm option reads such crops as they are
                continue
            masked = mask_palms(rgb, inside)
            prop = Proposal(prop.rect, "masked-wrist", prop.score, prop.side, prop.person)
            lm, rounds = settle(self.verifier.model, masked, prop, self.verifier.max_rounds)
            hand = None
            attached = np.linalg.norm(lm.keypoints[0] - b.wrist) < 0.5 * lm.size_px
            if attached and not any(same_hand(lm, h.landmarks) for h in hands):
                hand = self.verifier.accept(masked, lm, prop, rounds)
            if hand is not None:
                hand.read_on = masked
                hand.kept_because += (
                    f"; read at the {b.side} body wrist with {len(inside)} verified hand palm(s) masked"
                )
            out.append((hand, lm))
        return out

    def check_finger_order(self, rgb: np.ndarray, hands: list[VerifiedHand], body_hands: list[BodyHand]) -> None:
        """Each hand attached to a body wrist: its finger order against the body's hand points; a reversed one is
        re-read (`handrecon.detect.finger_order.reread_reversed`), or recorded as doubtful when no re-read agrees
        with the body. The record goes to `VerifiedHand.finger_order` (the JSON's `detector.finger_order`)."""
        rereads = 0
        for i, b in attach_to_bodies(hands, body_hands).items():
            h = hands[i]
            check = body_finger_order(h.landmarks.keypoints, b)
            if check is None:
                continue
            record = {**check.as_dict(), "action": "none"}
            if check.verdict == "reversed":
                rereads += 1
                image = h.read_on if h.read_on is not None else rgb
                v = self.verifier
                others = [k.landmarks for k in hands if k is not h]
                found = reread_reversed(v.model, image, h.landmarks, b, v.presence_threshold, v.max_rounds, others)
                if found is None:
                    record["action"] = "doubtful: no re-read agrees with the body's hand points"
                else:
                    new, how = found
                    after = body_finger_order(new.keypoints, b)
                    record["action"] = f"re-read: {how}"
                    record["first_reading"] = {"presence": round(h.landmarks.presence, 4), **check.as_dict()}
                    record.update(after.as_dict(), presence=round(new.presence, 4))
                    h.kept_because += (
                        f"; finger order re-read by {how} (presence {new.presence:.3f}): the first reading's was "
                        f"reversed against the {b.side} body wrist's hand points, {describe(check)}"
                    )
                    h.landmarks = new
            h.finger_order = record
        self.last_stats["finger_order_rereads"] = rereads

    def detect(
        self, rgb: np.ndarray, tta: TTAConfig | None = None, previous: list[HandDetection] | None = None
    ) -> list[HandDetection]:
        """Every verified hand (most present first, at most `max_hands`), with side and report."""
        hands, body_hands = self.verified(rgb, previous)
        if self.settings.body_finger_order and body_hands and hands:
            self.check_finger_order(rgb, hands, body_hands)
        assign_handedness(hands, body_hands)
        hands.sort(key=lambda h: -h.presence)
        if self.max_hands is not None:
            hands = hands[: self.max_hands]
        dets = [self._detection(h) for h in hands]
        if tta is not None and tta.passes > 0:
            for d, h in zip(dets, hands, strict=True):
                d.tta_spread = self._spread(rgb, h.landmarks, tta)
        return dets

    def track(self, rgb: np.ndarray) -> list[HandDetection]:
        """Next video frame: the previous frame's hands are proposals too."""
        self._previous = self.detect(rgb, previous=getattr(self, "_previous", None))
        return self._previous

    # -------------------------------------------------------------------------------------------
    def _detection(self, h: VerifiedHand) -> HandDetection:
        lm = h.landmarks
        report = {
            "kept_because": h.kept_because,
            "presence": round(lm.presence, 4),
            "mirrored_presence": None if h.mirrored_presence is None else round(h.mirrored_presence, 4),
            "prior": None if h.prior is None else {k: round(v, 4) for k, v in h.prior.as_dict().items()},
            "proposal_source": h.proposal.source,
            "found_by": list(h.sources),
            "handedness_source": h.handedness_source,
            "handedness_confidence": round(h.handedness_confidence, 4),
            "landmark_p_right": round(lm.right, 4),
            "body_side": h.body_side,
            "finger_order": h.finger_order,
        }
        return HandDetection(
            keypoints=lm.keypoints.copy(),
            world=lm.world.copy(),
            handedness=h.handedness,
            handedness_score=h.handedness_confidence,
            relative_depth=lm.relative_depth.copy(),
            detector_pass=h.proposal.source,
            detector_name=DETECTOR_NAME,
            report=report,
        )

    def _spread(self, rgb: np.ndarray, lm: HandLandmarks, tta: TTAConfig) -> np.ndarray:
        """Landmark spread per joint (pixels) over K randomly turned, scaled and shifted crops."""
        rng = np.random.default_rng(tta.seed)
        base = rect_from_hand_landmarks(lm.keypoints)
        pts = [lm.keypoints]
        for _ in range(tta.passes):
            shift = rng.uniform(-tta.max_shift, tta.max_shift, 2) * lm.size_px
            scale = float(np.exp(rng.uniform(-np.log(tta.max_scale), np.log(tta.max_scale))))
            rect = RotatedRect(
                base.cx + shift[0],
                base.cy + shift[1],
                base.width * scale,
                base.height * scale,
                base.angle + math.radians(rng.uniform(-tta.max_rotation_deg, tta.max_rotation_deg)),
            )
            pts.append(self.verifier.model(rgb, rect).keypoints)
        p = np.stack(pts)
        return np.sqrt(((p - p.mean(0)) ** 2).sum(-1).mean(0) / 2) * np.sqrt(len(p) / (len(p) - 1))


def _covered(p: Proposal, hands: list[VerifiedHand]) -> bool:
    """A proposal whose centre lies on a verified hand of similar size (body proposals never are: they may
    hold the second of two touching hands)."""
    if p.source == "body":
        return False
    for h in hands:
        kp = h.landmarks.keypoints
        lo, hi = kp.min(0), kp.max(0)
        inside = lo[0] <= p.rect.cx <= hi[0] and lo[1] <= p.rect.cy <= hi[1]
        if inside and 0.5 <= p.rect.size / max(h.landmarks.rect.size, 1.0) <= 2.0:
            return True
    return False


def _forearm_proposal(b: BodyHand) -> Proposal | None:
    rect = None if b.elbow is None else forearm_rect(b.wrist, b.elbow)
    return None if rect is None else Proposal(rect, "forearm", b.visibility, b.side, b.person)


def _has_hand(b: BodyHand, hands: list[VerifiedHand]) -> bool:
    """A verified hand whose wrist lies within half a hand of the body's wrist."""
    return any(np.linalg.norm(h.landmarks.keypoints[0] - b.wrist) < 0.5 * h.landmarks.size_px for h in hands)


def _inside(rect: RotatedRect, width: int, height: int) -> bool:
    return 0 <= rect.cx < width and 0 <= rect.cy < height
