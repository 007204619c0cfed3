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
    path.parent.mkdir(parents=True, exist_ok=True)
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

    monkeypatch.setattr("handrecon.pipeline.video.video_overlay_image", broken)
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


def test_frames_are_committed_in_groups_and_every_frame_still_gets_its_json(tmp_path, reconstructor, monkeypatch):
    monkeypatch.setattr("handrecon.pipeline.video.JSON_FRAMES_PER_COMMIT", 2)
    clip = _hand_video(tmp_path / "clip.mp4")
    s = reconstruct_video_file(reconstructor, clip, tmp_path / "out", overlay=False, progress=False)
    assert sorted(p.name for p in s.json_dir.iterdir()) == [f"clip_{i:06d}.json" for i in range(5)]


def test_a_video_without_any_hand_writes_nothing(tmp_path, reconstructor, capsys, monkeypatch):
    from handrecon.cli import main as cli_main

    clip = tmp_path / "in" / "empty.mp4"
    clip.parent.mkdir()
    with VideoWriter(clip, 10.0) as w:
        for _ in range(4):
            w.write(np.full((120, 160, 3), 100, np.uint8))
    monkeypatch.setattr("handrecon.commands.reconstruct.make_reconstructor", lambda args: reconstructor)
    out = tmp_path / "out"
    assert cli_main(["reconstruct", str(clip), "--out", str(out), "-q"]) == 1
    err = capsys.readouterr().err
    assert f"{clip}: no hand found in any of its 4 frame(s)" in err
    assert list(out.iterdir()) == []  # no frame JSON, no overlay, no empty folder


def test_frames_of_an_earlier_longer_run_are_removed(tmp_path, reconstructor):
    long_clip = _hand_video(tmp_path / "a" / "clip.mp4", frames=5)
    short_clip = _hand_video(tmp_path / "b" / "clip.mp4", frames=3)
    reconstruct_video_file(reconstructor, long_clip, tmp_path / "out", overlay=False, progress=False)
    s = reconstruct_video_file(reconstructor, short_clip, tmp_path / "out", overlay=False, progress=False)
    assert sorted(p.name for p in s.json_dir.iterdir()) == [f"clip_{i:06d}.json" for i in range(3)]


def test_prefetch_keeps_order_passes_errors_and_stops_with_its_consumer():
    import threading

    from handrecon.pipeline.background import prefetch

    assert list(prefetch(range(50), depth=3)) == list(range(50))

    def failing():
        yield 1
        raise ValueError("damaged file")

    got = []
    with pytest.raises(ValueError, match="damaged file"):
        for x in prefetch(failing()):
            got.append(x)
    assert got == [1]
    before = threading.active_count()
    it = prefetch(iter(range(10**9)), depth=2)
    assert next(it) == 0 and threading.active_count() == before + 1
    it.close()
    assert threading.active_count() == before  # its thread has ended
