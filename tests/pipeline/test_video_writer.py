"""A video's files are written in the background while the next frame is fitted: every frame still gets
its JSON and its overlay frame, in order, and an error while writing stops the video with no partial file."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from handrecon.io import VideoReader, VideoWriter
from handrecon.pipeline.background import BackgroundWriter
from handrecon.pipeline.video import reconstruct_video_file


def _hand_video(path: Path, frames: int = 5) -> Path:
    with resources.as_file(resources.files("handrecon.assets") / "demo_hand.jpg") as src:
        rgb = np.asarray(Image.open(src).convert("RGB").resize((320, 240)))
    with VideoWriter(path, 10.0) as w:
        for _ in range(frames):
            w.write(rgb)
    return path


def test_every_frame_gets_its_json_and_overlay_frame(tmp_path, reconstructor):
    clip = _hand_video(tmp_path / "clip.mp4")
    s = reconstruct_video_file(reconstructor, clip, tmp_path / "out", progress=False)
    assert s.frames == 5 and s.frames_with_hands == 5
    assert sorted(p.name for p in s.json_dir.iterdir()) == [f"clip_{i:06d}.json" for i in range(5)]
    assert sum(fr.ok for fr in VideoReader(s.overlay)) == 5
    assert not [p for p in (tmp_path / "out").rglob(".*")]


def test_an_error_while_writing_stops_the_video_and_leaves_no_partial_file(tmp_path, reconstructor, monkeypatch):
    clip = _hand_video(tmp_path / "clip.mp4")

    def broken(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr("handrecon.pipeline.video.overlay_image", broken)
    with pytest.raises(OSError, match="disk full"):
        reconstruct_video_file(reconstructor, clip, tmp_path / "out", progress=False)
    assert not list((tmp_path / "out").glob("*.mp4")) and not [p for p in (tmp_path / "out").rglob(".*")]


def test_background_writer_keeps_order_and_bounds_the_queue():
    seen = []
    w = BackgroundWriter(max_pending=2)
    for i in range(20):
        w.submit(seen.append, i)
        assert len(w._pending) <= 2
    w.close()
    assert seen == list(range(20))
