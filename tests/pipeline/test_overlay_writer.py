"""A video's overlay is drawn and encoded in a forked child process (Linux): the same MP4 as drawn on a
thread, and an error in the child or here, Ctrl-C included, stops it with no child process left and no
partial or temporary file."""

from __future__ import annotations

import multiprocessing
import os

import numpy as np
import pytest

from handrecon.io import VideoReader
from handrecon.pipeline import overlay_writer as ow
from handrecon.pipeline.video import VideoReconstructor, reconstruct_video_file
from tests.pipeline.test_video_pipeline import _moving_hand_video

pytestmark = pytest.mark.skipif(not ow.can_fork(), reason="the overlay process needs fork (Linux)")


def _no_files_left(out):
    return not list(out.glob("*.mp4")) and not list(out.rglob(".*"))


def test_the_overlay_process_writes_the_same_video_as_the_thread(tmp_path, reconstructor, monkeypatch):
    clip = _moving_hand_video(tmp_path / "clip.mp4", frames=4)
    made = []
    real = ow.overlay_writer

    def recording(*args, **kwargs):
        made.append(real(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr("handrecon.pipeline.video.overlay_writer", recording)
    in_process = reconstruct_video_file(reconstructor, clip, tmp_path / "process", progress=False)
    monkeypatch.setattr(ow, "can_fork", lambda: False)
    on_thread = reconstruct_video_file(reconstructor, clip, tmp_path / "thread", progress=False)
    assert [type(w) for w in made] == [ow.ProcessOverlayWriter, ow.InlineOverlayWriter]
    assert in_process.overlay.read_bytes() == on_thread.overlay.read_bytes()
    assert sum(fr.ok for fr in VideoReader(in_process.overlay)) == 4
    assert not multiprocessing.active_children()
    assert not list((tmp_path / "process").rglob(".*"))


def test_an_error_in_the_overlay_process_is_raised_here_and_leaves_no_file(tmp_path, reconstructor, monkeypatch):
    clip = _moving_hand_video(tmp_path / "clip.mp4", frames=5)
    calls = []

    def broken(rgb, hands, K, uncertainty):
        calls.append(1)  # counted in the child: its own copy of the list
        if len(calls) == 3:
            raise ValueError("cannot draw this frame")
        return rgb

    monkeypatch.setattr("handrecon.pipeline.video.video_overlay_image", broken)
    with pytest.raises(ValueError, match="cannot draw this frame"):
        reconstruct_video_file(reconstructor, clip, tmp_path / "out", progress=False)
    assert not calls  # it ran in the child, not here
    assert not multiprocessing.active_children()
    assert _no_files_left(tmp_path / "out")


def test_a_dead_overlay_process_stops_the_video_with_no_file(tmp_path, reconstructor, monkeypatch):
    clip = _moving_hand_video(tmp_path / "clip.mp4", frames=5)

    def dying(rgb, hands, K, uncertainty):
        os._exit(3)  # as if killed

    monkeypatch.setattr("handrecon.pipeline.video.video_overlay_image", dying)
    with pytest.raises(RuntimeError, match="overlay process"):
        reconstruct_video_file(reconstructor, clip, tmp_path / "out", progress=False)
    assert not multiprocessing.active_children()
    assert _no_files_left(tmp_path / "out")


def test_ctrl_c_stops_the_overlay_process_and_leaves_no_file(tmp_path, reconstructor, monkeypatch):
    clip = _moving_hand_video(tmp_path / "clip.mp4", frames=6)
    fit = VideoReconstructor.fit

    def interrupted(self, dets, tracks, K, frame):
        if frame == 3:  # frames 0-2 were sent to the overlay process
            raise KeyboardInterrupt
        return fit(self, dets, tracks, K, frame)

    monkeypatch.setattr(VideoReconstructor, "fit", interrupted)
    with pytest.raises(KeyboardInterrupt):
        reconstruct_video_file(reconstructor, clip, tmp_path / "out", progress=False)
    assert not multiprocessing.active_children()
    assert _no_files_left(tmp_path / "out")


def test_frames_of_another_size_are_refused(tmp_path):
    w = ow.ProcessOverlayWriter(tmp_path / "v.mp4", 10.0, np.eye(3), 64, 48)
    try:
        with pytest.raises(ValueError, match="frame size 32x48 differs from the video's 64x48"):
            w.write(np.zeros((48, 32, 3), np.uint8), [])
        w.write(np.zeros((48, 64, 3), np.uint8), [])
        w.write(np.full((48, 64, 3), 200, np.uint8), [])
        w.repeat_last()
        assert w.close() == tmp_path / "v.mp4"
    finally:
        w.abort()
    assert [fr.rgb.mean() > 150 for fr in VideoReader(tmp_path / "v.mp4")] == [False, True, True]
    assert not multiprocessing.active_children()


@pytest.mark.parametrize("process", [True, False])
def test_end_input_finishes_the_file_and_close_or_abort_decide(tmp_path, process):
    """After `end_input` (no more frames; the file is finished without waiting) `close` publishes the same
    video as a plain close, and `abort` still leaves nothing; more frames are refused."""
    frames = [np.full((48, 64, 3), v, np.uint8) for v in (0, 90, 200)]

    def written(name: str, end_input: bool) -> ow.ProcessOverlayWriter | ow.InlineOverlayWriter:
        w = ow.overlay_writer(tmp_path / name, 10.0, np.eye(3), 64, 48, in_process=process)
        for f in frames:
            w.write(f, [])
        w.repeat_last()
        if end_input:
            w.end_input()
        return w

    plain = written("plain.mp4", False)
    plain.close()
    ended = written("ended.mp4", True)
    with pytest.raises(ValueError, match="closed"):
        ended.write(frames[0], [])
    assert ended.close() == tmp_path / "ended.mp4"
    assert (tmp_path / "ended.mp4").read_bytes() == (tmp_path / "plain.mp4").read_bytes()
    dropped = written("dropped.mp4", True)
    dropped.abort()
    assert not (tmp_path / "dropped.mp4").exists() and not list(tmp_path.rglob(".*"))
    assert not multiprocessing.active_children()


def test_end_input_raises_an_error_of_the_overlay_process(tmp_path):
    w = ow.ProcessOverlayWriter(tmp_path / "o.mp4", 10.0, np.eye(3), 64, 48, draw=_die)
    try:
        w.write(np.zeros((48, 64, 3), np.uint8), [])
        w._proc.join(30)
        with pytest.raises(RuntimeError, match="overlay process"):
            w.end_input()
    finally:
        w.abort()
    assert not multiprocessing.active_children()
    assert not list(tmp_path.glob("*.mp4")) and not list(tmp_path.rglob(".*"))


def _die(rgb, hands, K, uncertainty):
    os._exit(3)  # as if killed, at the first frame


def test_frames_sent_to_a_dead_overlay_process_raise_instead_of_blocking(tmp_path):
    """Each frame's hands larger than a pipe's buffer: once the child is gone, a send must fail, not wait for a
    reader that will never come (the alarm turns a hang into a failure)."""
    import signal

    def hung(*_):
        raise TimeoutError("a write to the dead overlay process blocked")

    K = np.array([[100.0, 0, 32], [0, 100.0, 32], [0, 0, 1]])
    hand = ow.OverlayHand(np.zeros((60000, 3)), np.zeros((1, 3), np.int64), np.zeros((21, 2)), np.zeros(21))
    writer = ow.ProcessOverlayWriter(tmp_path / "o.mp4", 10.0, K, 64, 64, draw=_die)
    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(60)
    try:
        with pytest.raises(RuntimeError, match="overlay process"):
            for _ in range(20):
                writer.write(np.zeros((64, 64, 3), np.uint8), [hand])
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
        writer.abort()
    assert not multiprocessing.active_children()
    assert not list(tmp_path.glob("*.mp4")) and not list(tmp_path.rglob(".*"))
