"""Where a close-up can hold a second hand: the palm detector's own scores, read from the runs already made.

On a close-up (a verified hand spans a third of the shorter image side or more) the palm detector sees the
whole image at its working scale, so a second hand in view leaves at least a faint score on its anchors even
when it stays under the detection threshold (touching, half hidden). The crops beside a hand
(`proposals.neighbour_rects`, one landmark run or more each) are then read only where some anchor away from
the verified palms scored at least `NEIGHBOUR_MIN_PALM`. Photos with smaller hands keep every neighbour crop:
there the whole-image run sees small hands below its resolution (on hard_dev, two of the four hands the
neighbour crops added scored 0.02-0.03 there).
"""

from __future__ import annotations

import numpy as np

from handrecon.detect.crops import RotatedRect
from handrecon.detect.landmarks import HandLandmarks

# Lowest palm-anchor score (away from the verified palms) that lets a neighbour crop of a close-up be read.
# Rule, on tuning data (`benchmarks/bench_detection.py --calibrate-neighbours 40`: 40 synthetic renders, half with
# two interacting hands, a one-hand close-up crop of each, and hard_dev): the highest value on the grid
# (0.005, 0.01, 0.02, 0.05, 0.1) that loses no hand the neighbour crops add on close-ups. The 70 neighbour crops of
# close-ups there (84 landmark runs) added 5 hands, with palm evidence 0.007, 0.052, 0.156 (renders) and 0.706,
# 0.901 (hard_dev); 0.005 skips 17 crops (17 runs) and loses none, 0.01 skips 35 and loses the 0.007 one. A weak
# signal: most crops beside a close-up hand hold some faint palm score (fingers, the forearm).
NEIGHBOUR_MIN_PALM = 0.005
# Anchors within this fraction of a verified hand's size from its palm centre are that hand's own palm.
OWN_PALM_RADIUS = 0.5
# Anchor scores under this are not kept (the evidence rule never looks that low).
KEEP_SCORES_ABOVE = 0.001


def palm_centre(kp: np.ndarray) -> np.ndarray:
    """Centre of the palm: mean of the wrist and the four finger bases (OpenPose-21)."""
    return np.asarray(kp, dtype=np.float64)[[0, 5, 9, 13, 17]].mean(0)


def strong_enough(anchor_scores: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The anchors worth keeping from one palm run (centres, scores)."""
    centres, scores = anchor_scores
    keep = scores >= KEEP_SCORES_ABOVE
    return centres[keep], scores[keep]


def palm_evidence(
    rect: RotatedRect, anchor_maps: list[tuple[np.ndarray, np.ndarray]], hands: list[HandLandmarks]
) -> float:
    """Highest palm-anchor score of the given runs whose box centre lies inside `rect` and farther than
    OWN_PALM_RADIUS hand sizes from every verified hand's palm centre (0 when none)."""
    best = 0.0
    for centres, scores in anchor_maps:
        if not len(scores):
            continue
        uv = rect.to_crop(centres, 1, 1)
        ok = np.all((uv >= 0.0) & (uv <= 1.0), axis=1)
        for h in hands:
            ok &= np.linalg.norm(centres - palm_centre(h.keypoints), axis=1) >= OWN_PALM_RADIUS * h.size_px
        if ok.any():
            best = max(best, float(scores[ok].max()))
    return best
