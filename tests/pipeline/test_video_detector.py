"""The video's detector tracks one hand with MediaPipe's one-hand graph (no palm detection per frame), and
still finds a second hand that comes into view within `search_every` frames."""

from __future__ import annotations

from importlib import resources

import numpy as np
import pytest
from PIL import Image

from handrecon.detect.types import HandDetection
from handrecon.pipeline.video_detector import TrackingDetector, with_new_hands


@pytest.fixture(scope="module")
def hand_rgb() -> np.ndarray:
    with resources.as_file(resources.files("handrecon.assets") / "demo_hand.jpg") as src:
        return np.asarray(Image.open(src).convert("RGB").resize((320, 240)))


def _counting(det: TrackingDetector) -> dict[str, int]:
    calls = {"full": 0, "single": 0}
    for name in calls:
        graph = getattr(det, name)
        run = graph.track

        def counted(rgb, run=run, name=name):
            calls[name] += 1
            return run(rgb)

        graph.track = counted
    return calls


def test_one_hand_is_tracked_by_the_one_hand_graph_with_a_periodic_search(hand_rgb):
    det = TrackingDetector(max_hands=2, min_detection_confidence=0.5, search_every=4)
    calls = _counting(det)
    try:
        counts = [len(det.track(hand_rgb)) for _ in range(9)]
    finally:
        det.close()
    assert counts == [1] * 9
    # frame 0 with the full graph, frames 1-8 with the one-hand graph, searches after 4 and 8 of them
    assert calls == {"full": 3, "single": 8} and det.searches == 2


def test_a_second_hand_coming_into_view_is_found_within_search_every_frames(hand_rgb):
    both = np.concatenate([hand_rgb, hand_rgb[:, ::-1]], axis=1)
    one = both.copy()
    one[:, hand_rgb.shape[1] :] = 128  # the second hand not yet in view
    det = TrackingDetector(max_hands=2, min_detection_confidence=0.5, search_every=3)
    try:
        counts = [len(det.track(np.ascontiguousarray(f))) for f in [one] * 3 + [both] * 5]
    finally:
        det.close()
    assert counts[:3] == [1, 1, 1]
    assert 2 in counts[3:7] and counts[-1] == 2


def test_one_hand_at_most_runs_one_graph(hand_rgb):
    det = TrackingDetector(max_hands=1, min_detection_confidence=0.5)
    try:
        assert det.single is None and [len(det.track(hand_rgb)) for _ in range(3)] == [1, 1, 1]
    finally:
        det.close()


def _hand(x: float, y: float, side: str = "right") -> HandDetection:
    rng = np.random.default_rng(int(x * 7 + y))
    keypoints = np.array([x, y]) + rng.uniform(0, 60, (21, 2))
    return HandDetection(keypoints=keypoints, world=np.zeros((21, 3)), handedness=side, handedness_score=0.9)


def test_a_search_keeps_the_fresh_reading_of_the_tracked_hand_and_adds_the_new_ones():
    tracked = _hand(100, 100)
    stale = HandDetection(tracked.keypoints + 40.0, tracked.world, "right", 0.9)  # read from an old region
    new = _hand(300, 120, "left")
    for searched in ([stale, new], [new, stale]):
        kept = with_new_hands([tracked], searched)
        assert len(kept) == 2 and kept[0] is tracked and kept[1] is new
    assert with_new_hands([], [stale, new]) == [stale, new]  # nothing tracked: the search's hands as found


def test_the_search_frame_reports_the_one_hand_graphs_reading_of_the_tracked_hand(hand_rgb):
    det = TrackingDetector(max_hands=2, min_detection_confidence=0.5, search_every=2)
    tracked = _hand(100, 100)
    stale = HandDetection(tracked.keypoints + 40.0, tracked.world, "right", 0.9)
    new = _hand(300, 120, "left")
    try:
        det.full.track = lambda rgb: [tracked] if det.searches == 0 and not det._single_frames else [stale, new]
        det.single.track = lambda rgb: [tracked]
        frames = [det.track(hand_rgb) for _ in range(3)]  # full graph, one-hand graph, search
    finally:
        det.close()
    assert det.searches == 1 and frames[2][0] is tracked and frames[2][1:] == [new]


def test_both_graphs_are_made_with_the_detector_and_track_as_graphs_made_at_first_use(hand_rgb, monkeypatch):
    """Where descriptor 2 is settled for the process (a command-line run, or native logs kept), the graphs
    exist (MediaPipe preparing their models) before the first frame, and give the same landmarks as graphs
    created at their first frame; elsewhere they are made at their first frame (their preparation logs
    inside a quiet block)."""
    from handrecon.io import native_stderr

    frames = [np.ascontiguousarray(np.roll(hand_rgb, 3 * i, axis=1)) for i in range(6)]
    monkeypatch.setattr(native_stderr, "_silenced", True)
    early = TrackingDetector(max_hands=2, min_detection_confidence=0.5, search_every=3)
    try:
        assert early.full._graphs and early.single._graphs
        seen_early = [[d.keypoints for d in early.track(f)] for f in frames]
    finally:
        early.close()
    monkeypatch.setattr(native_stderr, "_silenced", False)
    monkeypatch.delenv("HANDRECON_NATIVE_LOGS", raising=False)
    lazy = TrackingDetector(max_hands=2, min_detection_confidence=0.5, search_every=3)
    try:
        assert not lazy.full._graphs and not lazy.single._graphs
        seen_lazy = [[d.keypoints for d in lazy.track(f)] for f in frames]
    finally:
        lazy.close()
    assert [len(s) for s in seen_early] == [1] * 6
    for a, b in zip(seen_early, seen_lazy, strict=True):
        assert len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
