"""A video's stages run on their own threads, a frame apart (detection of frame n + 1 beside the fit of
frame n, the overlay and files of frame n - 1 beside both): the frames' results are those of the frames
reconstructed one by one, and an error or Ctrl-C in any stage stops every thread and leaves no partial
file."""

from __future__ import annotations

import json
import threading
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from handrecon.io import VideoReader, VideoWriter
from handrecon.pipeline.video import VideoReconstructor, reconstruct_video_file


def _moving_hand_video(path: Path, frames: int = 6) -> Path:
    with resources.as_file(resources.files("handrecon.assets") / "demo_hand.jpg") as src:
        rgb = np.asarray(Image.open(src).convert("RGB").resize((320, 240)))
    with VideoWriter(path, 10.0) as w:
        for i in range(frames):
            w.write(np.roll(rgb, (2 * i, 3 * i), axis=(0, 1)))  # a hand that moves: the fits differ per frame
    return path


def _stage_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("handrecon-")]


def test_frames_reconstructed_in_the_pipeline_equal_frame_by_frame_ones(tmp_path, reconstructor):
    clip = _moving_hand_video(tmp_path / "clip.mp4")
    s = reconstruct_video_file(reconstructor, clip, tmp_path / "out", overlay=False, progress=False)
    assert s.frames == s.frames_with_hands == 6
    video = VideoReconstructor(reconstructor.pipeline)
    K, _ = reconstructor.intrinsics(320, 240)
    try:
        for fr in VideoReader(clip):
            hands = video(fr.rgb, K, fr.index, fr.timestamp)
            doc = json.loads((s.json_dir / f"clip_{fr.index:06d}.json").read_text())
            assert [h["track_id"] for h in doc["hands"]] == [h.track_id for h in hands]
            for h, written in zip(hands, doc["hands"], strict=True):
                np.testing.assert_allclose(written["joints_3d_m"], h.joints_3d, atol=2e-6)
                assert written["init"] == h.initial
    finally:
        video.close()


def test_the_next_frame_is_detected_while_this_one_is_fitted_and_stages_keep_their_threads(
    tmp_path, reconstructor, monkeypatch
):
    clip = _moving_hand_video(tmp_path / "clip.mp4", frames=4)
    threads: dict[str, set[str]] = {"observe": set(), "fit": set(), "package": set()}
    second_detected = threading.Event()
    observe, fit, package = VideoReconstructor.observe, VideoReconstructor.fit, VideoReconstructor.package

    def observing(self, rgb, frame, t):
        threads["observe"].add(threading.current_thread().name)
        out = observe(self, rgb, frame, t)
        if frame == 1:
            second_detected.set()
        return out

    def fitting(self, dets, tracks, K, frame):
        threads["fit"].add(threading.current_thread().name)
        if frame == 0:  # frame 1 is detected before frame 0's fit ends (run in turn, this would time out)
            assert second_detected.wait(timeout=60)
        return fit(self, dets, tracks, K, frame)

    def packaging(self, rgb, K, fitted):
        threads["package"].add(threading.current_thread().name)
        return package(self, rgb, K, fitted)

    monkeypatch.setattr(VideoReconstructor, "observe", observing)
    monkeypatch.setattr(VideoReconstructor, "fit", fitting)
    monkeypatch.setattr(VideoReconstructor, "package", packaging)
    s = reconstruct_video_file(reconstructor, clip, tmp_path / "out", progress=False)
    assert s.frames_with_hands == 4
    assert threads == {
        "observe": {"handrecon-detector"},
        "fit": {threading.current_thread().name},
        "package": {threading.current_thread().name},
    }
    assert not _stage_threads()


@pytest.mark.parametrize("stage", ["observe", "fit", "package"])
def test_an_error_in_any_stage_stops_every_thread_and_leaves_no_file(tmp_path, reconstructor, monkeypatch, stage):
    clip = _moving_hand_video(tmp_path / "clip.mp4")
    original = getattr(VideoReconstructor, stage)
    calls = []

    def failing(self, *args):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError(f"{stage} failed")
        return original(self, *args)

    monkeypatch.setattr(VideoReconstructor, stage, failing)
    with pytest.raises(RuntimeError, match=f"{stage} failed"):
        reconstruct_video_file(reconstructor, clip, tmp_path / "out", progress=False)
    assert not _stage_threads()
    out = tmp_path / "out"
    assert not list(out.glob("*.mp4")) and not list(out.rglob("*.json")) and not list(out.rglob(".*"))


def test_ctrl_c_during_a_fit_stops_every_thread(tmp_path, reconstructor, monkeypatch):
    clip = _moving_hand_video(tmp_path / "clip.mp4")
    fit = VideoReconstructor.fit

    def interrupted(self, dets, tracks, K, frame):
        if frame == 2:
            raise KeyboardInterrupt
        return fit(self, dets, tracks, K, frame)

    monkeypatch.setattr(VideoReconstructor, "fit", interrupted)
    with pytest.raises(KeyboardInterrupt):
        reconstruct_video_file(reconstructor, clip, tmp_path / "out", progress=False)
    assert not _stage_threads()
    out = tmp_path / "out"
    assert not list(out.glob("*.mp4")) and not list(out.rglob(".*"))


def test_a_video_starts_new_tracks_from_its_own_init(reconstructor):
    """Photos start from the network by default; a video's new tracks from `VideoSettings.init` (ik)."""
    video = VideoReconstructor(reconstructor.pipeline)
    assert video.image.config.init == reconstructor.config.video.init
    assert (video.image.initializer is None) == (reconstructor.config.video.init == "ik")
