"""The video's detector: MediaPipe's tracking mode, with palm detection only when a hand is lost.

MediaPipe's tracking graph runs its palm detector on every frame in which it tracks fewer hands than its
`max_num_hands`: with the default of two hands and one hand in view, every frame paid for a palm detection
(as much as a photo: measured 80 ms a frame against 42 ms with `max_num_hands=1` on the same clip). So a
frame with exactly one hand tracked is followed by a one-hand graph (the landmark model on the tracked
region alone, palm detection only when it loses the hand), and every `search_every` frames the full graph
looks for more hands: a second hand that comes into view is found within that many frames. With no hand
or with several, the full graph runs (as before).
"""

from __future__ import annotations

import numpy as np

from handrecon.detect.mediapipe_hands import MediaPipeHands
from handrecon.detect.types import HandDetection
from handrecon.io.native_stderr import native_stderr_set_for_process


class TrackingDetector:
    """`track(rgb)` per video frame; the same detections as one full tracking graph, cheaper when one
    hand is in view. `max_hands=1` runs one graph only."""

    def __init__(self, max_hands: int, min_detection_confidence: float, search_every: int = 15) -> None:
        self.max_hands = max_hands
        self.search_every = search_every
        self.full = MediaPipeHands(max_hands=max_hands, min_detection_confidence=min_detection_confidence, video=True)
        self.single = (
            MediaPipeHands(max_hands=1, min_detection_confidence=min_detection_confidence, video=True)
            if max_hands > 1
            else None
        )
        # Both graphs made now: MediaPipe prepares their models on its threads (~0.1 s of CPU each) while the
        # video's set-up goes on, not inside the first two frames (whose detections every later stage
        # waits for). The one-hand graph serves every video that shows exactly one hand at some frame.
        # Only where descriptor 2 is settled for the process (every command-line run): that preparation
        # logs to it after the graph is made, outside any quiet block; elsewhere the graphs are made at
        # their first frame, inside one.
        if native_stderr_set_for_process():
            for graph in (self.full, self.single):
                if graph is not None:
                    graph.open_graph()
        self._last_count = 0
        self._single_frames = 0  # frames tracked by the one-hand graph since the last search
        self.searches = 0  # full-graph runs while one hand was tracked (for tests and benchmarks)

    def track(self, rgb: np.ndarray) -> list[HandDetection]:
        if self.single is None or self._last_count != 1:
            dets = self.full.track(rgb)
            self._single_frames = 0
        else:
            dets = self.single.track(rgb)
            self._single_frames += 1
            if self._single_frames >= self.search_every:  # any hand besides the tracked one?
                self._single_frames = 0
                self.searches += 1
                more = self.full.track(rgb)
                if len(more) > len(dets):
                    dets = with_new_hands(dets, more)
        self._last_count = len(dets)
        return dets

    def detect(self, rgb: np.ndarray, tta=None) -> list[HandDetection]:
        return self.track(rgb)

    def close(self) -> None:
        self.full.close()
        if self.single is not None:
            self.single.close()


def with_new_hands(tracked: list[HandDetection], searched: list[HandDetection]) -> list[HandDetection]:
    """The tracked hand (at most one) and the hands a search found besides it. The full graph last ran up to
    `search_every` frames ago, so it reads the tracked hand from a region that old (10-130 px off a fresh
    reading on a moving hand): its reading nearest to the tracked hand is dropped, the fresh one kept."""
    if not tracked:
        return list(searched)
    (hand,) = tracked
    lag = [float(np.linalg.norm(s.keypoints - hand.keypoints, axis=1).mean()) for s in searched]
    stale = int(np.argmin(lag))
    return [hand] + [s for i, s in enumerate(searched) if i != stale]

