"""Reading and writing videos frame by frame through OpenCV (FFmpeg backend).

A damaged frame must not end a long run: `VideoReader` yields it as a `VideoFrame` whose `rgb` is None
and whose `error` says why, and goes on; a file that cannot be opened at all, or holds no decodable
frame, raises `InputError`. `VideoWriter` encodes to a temporary file that takes the target's name only
when it is closed without error.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from handrecon.io.atomic import commit_temp, reserve_temp, sync_temp
from handrecon.io.errors import InputError


def _cv2() -> Any:
    """OpenCV is imported on first use so that image-only code does not pay for it."""
    try:
        import cv2
    except ImportError as e:  # pragma: no cover - cv2 comes with mediapipe
        raise RuntimeError("video input and output need OpenCV (opencv-python, installed with mediapipe)") from e
    return cv2


@dataclass(frozen=True)
class VideoFrame:
    """One frame: `rgb` (H, W, 3) uint8, or None with `error` set when the frame could not be decoded."""

    index: int
    timestamp: float  # seconds from the start (container time stamp; index / fps when it has none)
    rgb: np.ndarray | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.rgb is not None


class VideoReader:
    """Frames of a video file as RGB uint8 with index and time stamp.

    `frame_count` is what the container declares (0 when it does not) and may differ from the number
    of frames actually decoded. Each iteration reads the file from the start.
    """

    def __init__(self, path: str | os.PathLike, max_consecutive_failures: int = 16) -> None:
        self.path = Path(path)
        self.max_consecutive_failures = max_consecutive_failures
        if not self.path.exists():
            raise InputError(self.path, "file not found")
        if self.path.is_dir():
            raise InputError(self.path, "is a directory, not a video file")
        if self.path.stat().st_size == 0:
            raise InputError(self.path, "empty file (0 bytes)")
        cv2 = _cv2()
        cap = self._open()
        try:
            fps = cap.get(cv2.CAP_PROP_FPS)
            self.fps: float | None = float(fps) if math.isfinite(fps) and fps > 0 else None
            count = cap.get(cv2.CAP_PROP_FRAME_COUNT)
            self.frame_count = int(count) if math.isfinite(count) and count > 0 else 0
            # The size is that of the first decoded frame (after any rotation OpenCV applies): decoding it
            # here also turns a file without a single usable frame into an InputError before any work.
            first = None
            for _ in range(max_consecutive_failures):
                ok, first = cap.read()
                if ok and first is not None:
                    break
                first = None
        finally:
            cap.release()
        if first is None:
            raise InputError(self.path, "no decodable video frames")
        self.height, self.width = first.shape[:2]

    def _open(self) -> Any:
        cv2 = _cv2()
        cap = cv2.VideoCapture(str(self.path), cv2.CAP_FFMPEG)  # never the image-sequence backend
        if not cap.isOpened():
            cap.release()
            raise InputError(self.path, "not a video file, or unreadable (damaged container or unknown codec)")
        return cap

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return self.width, self.height

    def _time(self, index: int) -> float:
        return index / self.fps if self.fps else float("nan")

    def __iter__(self) -> Iterator[VideoFrame]:
        cv2 = _cv2()
        cap = self._open()
        failed: list[int] = []  # frames that failed since the last good one
        index = decoded = 0
        try:
            while len(failed) < self.max_consecutive_failures:
                ok, bgr = cap.read()
                if not ok or bgr is None:
                    if self.frame_count and index >= self.frame_count:
                        break  # the declared end
                    failed.append(index)
                    index += 1
                    continue
                for i in failed:  # a good frame after bad ones: those were damaged, not the end
                    yield VideoFrame(i, self._time(i), None, "frame could not be decoded")
                failed.clear()
                t = cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
                t = t if math.isfinite(t) and (t > 0 or index == 0) else self._time(index)
                decoded += 1
                yield VideoFrame(index, t, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
                index += 1
        finally:
            cap.release()
        if decoded == 0:
            raise InputError(self.path, "no decodable video frames")
        if failed and self.frame_count and failed[0] < self.frame_count:
            i = failed[0]
            yield VideoFrame(
                i, self._time(i), None, f"video ends after {i} of {self.frame_count} frames (truncated or damaged)"
            )


class VideoWriter:
    """Encode RGB uint8 frames to a video file (MP4 with the 'mp4v' codec by default), atomically.

    Use as a context manager: the file appears at `path` on a clean exit and is never left half
    written. 'mp4v' (MPEG-4 Part 2) is what OpenCV's bundled FFmpeg can always encode; FFmpeg, VLC and
    OpenCV play it, web browsers want H.264 and need a re-encode. The codec needs even frame sizes, so an
    odd width or height gets one extra column or row copied from the last one, instead of losing one.
    """

    def __init__(self, path: str | os.PathLike, fps: float, fourcc: str = "mp4v") -> None:
        if not (isinstance(fps, (int, float)) and math.isfinite(fps) and fps > 0):
            raise ValueError(f"fps must be a positive number, got {fps}")
        if len(fourcc) != 4:
            raise ValueError(f"fourcc must have 4 characters, got {fourcc!r}")
        self.path, self.fps, self.fourcc = Path(path), float(fps), fourcc
        self.size: tuple[int, int] | None = None  # (width, height) of the frames given
        self.frames_written = 0
        self._writer: Any = None
        self._temp: Path | None = reserve_temp(self.path)
        self._finished = False  # `finish` done: the file is complete under its temporary name

    def write(self, rgb: np.ndarray) -> None:
        """Append one (H, W, 3) uint8 RGB frame; every frame must have the size of the first."""
        if self._temp is None or self._finished:
            raise ValueError(f"{self.path}: writer is closed")
        a = np.asarray(rgb)
        if a.ndim != 3 or a.shape[2] != 3 or a.dtype != np.uint8:
            raise ValueError(f"frames must be (H, W, 3) uint8 RGB, got {a.shape} {a.dtype}")
        size = (a.shape[1], a.shape[0])
        cv2 = _cv2()
        if self._writer is None:
            self.size = size
            even = (size[0] + size[0] % 2, size[1] + size[1] % 2)
            self._writer = cv2.VideoWriter(str(self._temp), cv2.VideoWriter_fourcc(*self.fourcc), self.fps, even)
            if not self._writer.isOpened():
                self.abort()
                raise OSError(f"{self.path}: OpenCV cannot encode {self.fourcc!r} video here")
        elif size != self.size:
            raise ValueError(f"frame size {size[0]}x{size[1]} differs from the first frame's {self.size}")
        pad = ((0, a.shape[0] % 2), (0, a.shape[1] % 2), (0, 0))
        if any(p[1] for p in pad):
            a = np.pad(a, pad, mode="edge")
        self._writer.write(cv2.cvtColor(np.ascontiguousarray(a), cv2.COLOR_RGB2BGR))
        self.frames_written += 1

    def finish(self) -> None:
        """End the stream and flush the file to disk, under its temporary name: `close` then only gives it
        its name (`abort` can still drop it). A video without frames is an error, not an empty file."""
        if self._temp is None:
            raise ValueError(f"{self.path}: writer is closed")
        if self._finished:
            return
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        if self.frames_written == 0 or self._temp.stat().st_size == 0:
            self.abort()
            raise ValueError(f"{self.path}: no frames were written; no video file created")
        try:
            sync_temp(self._temp)
        except BaseException:
            self.abort()
            raise
        self._finished = True

    def close(self) -> Path:
        """Finish the file (`finish`, unless done) and move it to `path`."""
        if self._temp is None:
            return self.path
        self.finish()
        temp, self._temp = self._temp, None
        try:
            return commit_temp(temp, self.path, synced=True)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise

    def abort(self) -> None:
        """Drop everything written so far; `path` is left as it was."""
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        if self._temp is not None:
            self._temp.unlink(missing_ok=True)
            self._temp = None

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.abort()  # a writer dropped without close() leaves no temporary file
