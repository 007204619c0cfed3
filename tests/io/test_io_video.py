"""Video round trip through OpenCV, damaged frames reported without ending the run, atomic writing."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from handrecon.io import InputError, VideoReader, VideoWriter

from ._files import write


def _frame(i: int, w: int = 64, h: int = 48) -> np.ndarray:
    """A frame whose colour encodes its index, plus a white square moving right."""
    f = np.zeros((h, w, 3), np.uint8)
    f[...] = (20 * i + 30, 200 - 15 * i, 90)
    f[10:26, 4 * i : 4 * i + 16] = 255
    return f


def _write(path, n=10, fps=25.0, **kw):
    with VideoWriter(path, fps, **kw) as writer:
        for i in range(n):
            writer.write(_frame(i))
    return path


def test_round_trip(tmp_path):
    path = _write(tmp_path / "clip.mp4")
    reader = VideoReader(path)
    assert reader.size == (64, 48) and reader.fps == pytest.approx(25.0) and reader.frame_count == 10
    frames = list(reader)
    assert [f.index for f in frames] == list(range(10)) and all(f.ok for f in frames)
    for i, f in enumerate(frames):
        assert f.rgb.shape == (48, 64, 3) and f.rgb.dtype == np.uint8
        assert np.abs(f.rgb.astype(int) - _frame(i)).mean() < 12  # lossy codec, same picture
        assert f.timestamp == pytest.approx(i / 25.0, abs=1e-3)
    # the moving square is where it was written: right of the previous frame's
    assert [int(np.argmax(f.rgb[18, :, 1] > 240)) for f in frames[:5]] == pytest.approx([0, 4, 8, 12, 16], abs=2)
    assert len(list(reader)) == 10  # iterating again starts over
    assert not list(tmp_path.glob(".*"))  # no temporary file left


def test_written_file_is_a_real_mp4(tmp_path):
    data = _write(tmp_path / "clip.mp4", n=3).read_bytes()
    assert data[4:8] == b"ftyp" and b"moov" in data and b"mp4v" in data  # MP4 boxes, MPEG-4 video sample entry


def test_odd_sizes_are_padded_not_cropped(tmp_path):
    frame = np.zeros((47, 65, 3), np.uint8)
    frame[:, -1] = 250  # the last column must survive
    with VideoWriter(tmp_path / "odd.mp4", 10) as writer:
        writer.write(frame)
        writer.write(frame)
    reader = VideoReader(tmp_path / "odd.mp4")
    assert reader.size == (66, 48)
    first = next(iter(reader)).rgb
    assert first[:40, 64].mean() > 200 and first[:40, :60].mean() < 20


def test_exception_leaves_no_file_and_keeps_the_old_one(tmp_path):
    path = tmp_path / "clip.mp4"
    with pytest.raises(RuntimeError), VideoWriter(path, 25) as writer:
        writer.write(_frame(0))
        raise RuntimeError("pipeline failed")
    assert list(tmp_path.iterdir()) == []
    path.write_bytes(b"previous result")
    with pytest.raises(KeyboardInterrupt), VideoWriter(path, 25) as writer:
        writer.write(_frame(0))
        raise KeyboardInterrupt
    assert path.read_bytes() == b"previous result" and len(list(tmp_path.iterdir())) == 1


def test_finish_completes_the_file_under_its_temporary_name(tmp_path):
    """`finish` ends the stream and flushes the file without naming it: `close` then names it (the same
    bytes as a plain close), `abort` still drops it, and no frame is taken after it."""
    plain = _write(tmp_path / "plain.mp4", n=4)
    path = tmp_path / "clip.mp4"
    writer = VideoWriter(path, 25.0)
    for i in range(4):
        writer.write(_frame(i))
    writer.finish()
    writer.finish()  # once is enough
    assert not path.exists() and len(list(tmp_path.glob(".*"))) == 1
    with pytest.raises(ValueError, match="closed"):
        writer.write(_frame(4))
    assert writer.close() == path and path.read_bytes() == plain.read_bytes()
    assert not list(tmp_path.glob(".*"))

    path.write_bytes(b"previous result")
    writer = VideoWriter(path, 25.0)
    writer.write(_frame(0))
    writer.finish()
    writer.abort()
    assert path.read_bytes() == b"previous result" and not list(tmp_path.glob(".*"))
    with pytest.raises(ValueError, match="no frames"):
        VideoWriter(tmp_path / "empty.mp4", 25.0).finish()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "plain.mp4"]


def test_writer_refuses_empty_and_inconsistent_videos(tmp_path):
    with pytest.raises(ValueError, match="no frames"), VideoWriter(tmp_path / "empty.mp4", 25):
        pass
    with pytest.raises(ValueError, match="differs"), VideoWriter(tmp_path / "sizes.mp4", 25) as writer:
        writer.write(_frame(0))
        writer.write(_frame(1, w=80))
    with pytest.raises(ValueError, match="uint8"), VideoWriter(tmp_path / "float.mp4", 25) as writer:
        writer.write(_frame(0) / 255.0)
    for fps in (0, -5.0, float("nan"), None):
        with pytest.raises(ValueError, match="fps"):
            VideoWriter(tmp_path / "x.mp4", fps)
    assert list(tmp_path.iterdir()) == []


def test_unreadable_videos(tmp_path):
    good = _write(tmp_path / "good.mp4").read_bytes()
    cases = {
        "missing.mp4": None,
        "zero.mp4": b"",
        "text.mp4": b"this is not a video\n" * 50,
        "half.mp4": good[: len(good) // 2],  # the index (moov) is written last: half a file has none
    }
    for name, data in cases.items():
        path = tmp_path / name
        if data is not None:
            path.write_bytes(data)
        with pytest.raises(InputError) as info:
            VideoReader(path)
        assert str(info.value).startswith(f"{path}: ")
    with pytest.raises(InputError, match="directory"):
        VideoReader(tmp_path)


def _mjpeg_avi(path, n=10):
    """An AVI of JPEG frames: each frame is a separate JPEG, so single frames can be damaged."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (64, 48))
    for i in range(n):
        writer.write(cv2.cvtColor(_frame(i), cv2.COLOR_RGB2BGR))
    writer.release()
    data = bytearray(path.read_bytes())
    spans, at = [], data.find(b"\xff\xd8\xff")  # JPEG start (SOI) to end (EOI) markers
    while at >= 0:
        end = data.index(b"\xff\xd9", at) + 2
        spans.append((at, end))
        at = data.find(b"\xff\xd8\xff", end)
    assert len(spans) == n
    return data, spans


def _wipe(data: bytearray, span: tuple[int, int]) -> None:
    """Zero a frame's JPEG between its markers, leaving the AVI chunk structure around it intact."""
    data[span[0] + 2 : span[1] - 2] = bytes(span[1] - span[0] - 4)


def test_damaged_frame_is_reported_and_the_rest_is_read(tmp_path):
    data, spans = _mjpeg_avi(tmp_path / "src.avi")
    _wipe(data, spans[4])
    frames = list(VideoReader(write(tmp_path / "damaged.avi", bytes(data))))
    assert [f.index for f in frames] == list(range(10))
    bad = [f for f in frames if not f.ok]
    assert [f.index for f in bad] == [4] and "decoded" in bad[0].error and bad[0].rgb is None
    for f in frames:
        if f.ok:
            assert np.abs(f.rgb.astype(int) - _frame(f.index)).mean() < 12


def test_truncated_video_reports_where_it_ends(tmp_path):
    data, spans = _mjpeg_avi(tmp_path / "src.avi")
    frames = list(VideoReader(write(tmp_path / "cut.avi", bytes(data[: spans[6][0] + 100]))))
    good = [f.index for f in frames if f.ok]
    assert good == list(range(6))
    assert not frames[-1].ok and frames[-1].index == 6 and "6 of 10" in frames[-1].error


def test_video_without_any_decodable_frame(tmp_path):
    data, spans = _mjpeg_avi(tmp_path / "src.avi", n=2)
    for span in spans:
        _wipe(data, span)
    with pytest.raises(InputError, match="no decodable"):
        VideoReader(write(tmp_path / "dead.avi", bytes(data)))
