"""Native thread pools (OpenBLAS, OpenCV) run single-threaded during a video run and get their thread
counts back afterwards: their idle workers busy-wait, taking CPU from the video's own stage threads."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from handrecon.pipeline.native_threads import _loaded_openblas, single_threaded_native_pools


def _counts() -> list[int]:
    return [get() for get, _ in _loaded_openblas()] + [cv2.getNumThreads()]


@pytest.fixture
def two_threads_each():
    """Every pool at 2 threads (whatever the machine's cores), the original counts restored after."""
    np.linalg.solve(np.eye(3), np.ones(3))  # NumPy's OpenBLAS is loaded
    pools = _loaded_openblas()
    before = [get() for get, _ in pools], cv2.getNumThreads()
    for _, put in pools:
        put(2)
    cv2.setNumThreads(2)
    yield pools
    for (_, put), n in zip(pools, before[0], strict=True):
        put(n)
    cv2.setNumThreads(before[1])


def test_numpys_openblas_is_found(two_threads_each):
    import sys

    if not sys.platform.startswith("linux"):
        pytest.skip("found through /proc/self/maps")
    assert two_threads_each, "no OpenBLAS library found in the process"


def test_pools_are_single_threaded_inside_and_restored_after(two_threads_each):
    before = _counts()
    assert before[0] == 2 and before[-1] == 2  # NumPy's OpenBLAS, OpenCV (a build may cap its pool at 1)
    with single_threaded_native_pools():
        assert all(n == 1 for n in _counts())
        np.linalg.solve(np.eye(40), np.ones(40))  # still works
    assert _counts() == before


def test_pools_are_restored_after_an_error_or_ctrl_c(two_threads_each):
    before = _counts()
    for error in (RuntimeError, KeyboardInterrupt):
        with pytest.raises(error), single_threaded_native_pools():
            raise error
        assert _counts() == before


def test_a_video_runs_its_stages_with_single_threaded_pools(tmp_path, reconstructor, monkeypatch, two_threads_each):
    from handrecon.pipeline.video import VideoReconstructor, reconstruct_video_file
    from tests.pipeline.test_video_pipeline import _moving_hand_video

    clip = _moving_hand_video(tmp_path / "clip.mp4", frames=2)
    seen = []
    fit = VideoReconstructor.fit

    def fitting(self, *args):
        seen.append(_counts())
        return fit(self, *args)

    monkeypatch.setattr(VideoReconstructor, "fit", fitting)
    before = _counts()
    reconstruct_video_file(reconstructor, clip, tmp_path / "out", progress=False)
    assert seen and all(n == 1 for counts in seen for n in counts)
    assert _counts() == before
