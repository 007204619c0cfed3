"""Hand identities across video frames and temporal filtering of the detector's keypoints.

Detections are matched to tracks by the Hungarian algorithm on the mean keypoint distance (relative to
hand size), with handedness required to agree; a track survives a few missed frames. Each track filters
its keypoints with the One-Euro filter (Casiez, Roussel & Vogel, CHI 2012): strong smoothing at low
speed (no jitter when still), little lag at high speed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from handrecon.detect.types import HandDetection
from handrecon.fit.initialize import HandParams


class OneEuroFilter:
    """One-Euro filter for arrays (elementwise), driven by timestamps in seconds."""

    def __init__(self, min_cutoff: float = 1.0, beta: float = 0.05, d_cutoff: float = 1.0) -> None:
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None
        self._t: float | None = None

    @staticmethod
    def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
        tau = 1.0 / (2 * math.pi * np.asarray(cutoff))
        return 1.0 / (1.0 + tau / dt)

    def __call__(self, x: np.ndarray, t: float) -> np.ndarray:
        if self._x is None or self._t is None or t <= self._t:
            self._x, self._dx, self._t = x.copy(), np.zeros_like(x), t
            return x.copy()
        dt = t - self._t
        dx = (x - self._x) / dt
        a_d = self._alpha(self.d_cutoff, dt)
        self._dx = a_d * dx + (1 - a_d) * self._dx
        cutoff = self.min_cutoff + self.beta * np.abs(self._dx)
        a = self._alpha(cutoff, dt)
        self._x = a * x + (1 - a) * self._x
        self._t = t
        return self._x.copy()


def _min_cost_pairs(cost: np.ndarray) -> list[tuple[int, int]]:
    """(row, column) pairs of least total cost (Hungarian algorithm). SciPy is imported only when there is a
    choice to make (it costs ~0.6 s to import): one detection and one track, the usual video frame, pair up
    directly."""
    if cost.size == 0:
        return []
    if cost.shape == (1, 1):
        return [(0, 0)]
    from scipy.optimize import linear_sum_assignment

    rows, cols = linear_sum_assignment(cost)
    return list(zip(rows.tolist(), cols.tolist(), strict=True))


@dataclass
class Track:
    track_id: int
    side: str
    keypoints: np.ndarray
    size_px: float
    last_frame: int
    filter: OneEuroFilter
    params: HandParams | None = None
    history: list[int] = field(default_factory=list)


class HandTracker:
    """Assigns stable ids to detections over frames and smooths their keypoints."""

    def __init__(self, max_missing: int = 5, max_distance: float = 0.6, min_cutoff: float = 1.0, beta: float = 0.05):
        self.max_missing = max_missing
        self.max_distance = max_distance  # mean keypoint distance over hand size
        self.min_cutoff, self.beta = min_cutoff, beta
        self.tracks: list[Track] = []
        self._next_id = 0

    def update(self, dets: list[HandDetection], frame: int, t: float) -> list[Track]:
        """Match `dets` to tracks (sets `track_id` and replaces keypoints by the filtered ones)."""
        live = [tr for tr in self.tracks if frame - tr.last_frame <= self.max_missing]
        cost = np.full((len(dets), len(live)), 1e6)
        for i, d in enumerate(dets):
            for k, tr in enumerate(live):
                if tr.side != d.handedness:
                    continue
                dist = np.linalg.norm(d.keypoints - tr.keypoints, axis=1).mean() / max(tr.size_px, 1.0)
                if dist <= self.max_distance:
                    cost[i, k] = dist
        assigned: dict[int, Track] = {}
        for i, k in _min_cost_pairs(cost):
            if cost[i, k] < 1e6:
                assigned[i] = live[k]
        matched = []
        for i, d in enumerate(dets):
            tr = assigned.get(i)
            if tr is None:
                tr = Track(
                    self._next_id,
                    d.handedness,
                    d.keypoints,
                    d.size_px,
                    frame,
                    OneEuroFilter(self.min_cutoff, self.beta),
                )
                self._next_id += 1
                live.append(tr)
            d.track_id = tr.track_id
            d.keypoints = tr.filter(d.keypoints, t)
            tr.keypoints, tr.size_px, tr.last_frame = d.keypoints, d.size_px, frame
            tr.history.append(frame)
            matched.append(tr)
        self.tracks = [tr for tr in live if frame - tr.last_frame <= self.max_missing]
        return matched
