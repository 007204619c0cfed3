"""A video's overlay: each frame's meshes and skeletons drawn over it and encoded to the MP4, in a child
process where the platform forks (Linux), else on the calling thread.

Why a process: the fit's many small NumPy operations hold the GIL for most of a frame, and the overlay's
render (torch) and encode, on a thread beside it, had to win the GIL back after every operation. A
forked child shares no GIL and starts in milliseconds (it inherits the loaded modules). Frames go to it
through a ring of shared-memory slots allocated before the fork (no copy through a pipe, nothing to
unlink); each frame's hands go as small arrays. The child writes the MP4 through a `VideoWriter` made
here before the fork (so this process knows its temporary file), and the file is complete or absent:
`close` publishes it, `abort` and any error, in the child or here, remove the temporary file (also when
the child had to be killed). The child ignores Ctrl-C: the parent decides and waits for it.
"""

from __future__ import annotations

import builtins
import contextlib
import gc
import mmap
import multiprocessing
import signal
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from handrecon.io import VideoWriter
from handrecon.io.images import downscale_for_processing
from handrecon.pipeline.heap import keep_freed_memory
from handrecon.pipeline.outputs import OVERLAY_COLOR, OVERLAY_MAX_SIDE, overlay_image, scaled_intrinsics
from handrecon.render.overlay import draw_uncertainty, paint_mesh_over, paint_skeleton


@dataclass
class OverlayHand:
    """What `overlay_image` draws of a hand (a `Hand`'s fields of the same names)."""

    vertices: np.ndarray
    faces: np.ndarray
    joints_2d: np.ndarray
    sigma_2d: np.ndarray


def overlay_hands(hands) -> list[OverlayHand]:
    return [OverlayHand(h.vertices, h.faces, h.joints_2d, h.sigma_2d) for h in hands]


# draw(rgb, hands, K, uncertainty=False) -> the overlay frame; `overlay_image` unless a caller says otherwise
Draw = Callable[..., np.ndarray]


def video_overlay_image(
    rgb: np.ndarray, hands, K: np.ndarray, uncertainty: bool = False, max_side: int = OVERLAY_MAX_SIDE
) -> np.ndarray:
    """A video frame's overlay: what `overlay_image` draws (shaded meshes, skeletons, optionally the sigma
    ellipses), with the meshes painted by `render.painted` instead of rasterized exactly and the skeletons
    drawn by OpenCV: about half the CPU per 640x480 frame. The picture differs on the silhouette's edge
    pixels (up to a pixel wider), on a few pixels inside (`render.painted`'s doc) and by a pixel at the
    bones' ends and the joints' rims. `hands`: `Hand`s or `OverlayHand`s."""
    out, s = downscale_for_processing(rgb, max_side)
    if not hands:
        return out
    if out is rgb:
        out = np.array(rgb, dtype=np.uint8, order="C")  # the caller's frame stays as it is
    Ks = scaled_intrinsics(K, s)
    offset, vertices, faces = 0, [], []
    for h in hands:
        vertices.append(np.asarray(h.vertices, dtype=np.float64))
        faces.append(np.asarray(h.faces, dtype=np.int64) + offset)
        offset += len(h.vertices)
    # float32 vertices, as the exact overlay renders them
    v = np.concatenate(vertices).astype(np.float32).astype(np.float64)
    out = paint_mesh_over(out, v, np.concatenate(faces), Ks, alpha=0.75, color=OVERLAY_COLOR)
    for h in hands:
        joints_2d = h.joints_2d * s
        size = float(np.ptp(joints_2d, axis=0).max())
        paint_skeleton(out, joints_2d, line_width=max(1, round(size / 60)), joint_radius=max(1, round(size / 45)))
        if uncertainty:
            out = draw_uncertainty(out, joints_2d, np.stack([h.sigma_2d, h.sigma_2d], -1) * s)
    return out


class InlineOverlayWriter:
    """Draw and encode on the calling thread."""

    def __init__(
        self, path: Path, fps: float, K: np.ndarray, width: int, height: int, draw: Draw = overlay_image
    ) -> None:
        self.K, self.draw = K, draw
        self._writer = VideoWriter(path, fps)
        self._last: np.ndarray | None = None

    @property
    def has_frames(self) -> bool:
        return self._last is not None

    def write(self, rgb: np.ndarray, hands) -> None:
        self._last = self.draw(rgb, hands, self.K, uncertainty=False)
        self._writer.write(self._last)

    def repeat_last(self) -> None:
        """The previous overlay frame again (an unreadable frame keeps the overlay's timing)."""
        if self._last is not None:
            self._writer.write(self._last)

    def end_input(self) -> None:
        """No more frames: the file is finished and flushed to disk, and takes its name at `close`."""
        self._writer.finish()

    def close(self) -> Path:
        return self._writer.close()

    def abort(self) -> None:
        self._writer.abort()


class ProcessOverlayWriter:
    """Draw and encode in a forked child process (see the module doc). Same methods as
    `InlineOverlayWriter`; an error of the child is raised by the next call here."""

    POLL_S = 0.05

    def __init__(
        self,
        path: Path,
        fps: float,
        K: np.ndarray,
        width: int,
        height: int,
        draw: Draw = overlay_image,
        slots: int = 4,
    ) -> None:
        ctx = multiprocessing.get_context("fork")
        self.path, self.shape = Path(path), (height, width, 3)
        self._ring = mmap.mmap(-1, slots * height * width * 3)  # anonymous, shared with the child
        self._frames = np.ndarray((slots, *self.shape), np.uint8, buffer=self._ring)
        self._tasks = ctx.SimpleQueue()
        self._free = ctx.SimpleQueue()
        self._results = ctx.SimpleQueue()
        for s in range(slots):
            self._free.put(s)
        self._has_frames = False
        self._done = False
        self._input_ended = False  # `end_input` sent: the child is finishing the file
        self._writer = VideoWriter(path, fps)  # the child encodes; this copy only removes its temporary file
        self._proc = ctx.Process(
            target=_serve,
            args=(self._tasks, self._free, self._results, self._frames, self._writer, K, draw),
            name="handrecon-overlay",
            daemon=True,
        )
        # The child's garbage collector would walk (and so copy-on-write) every object it inherits: frozen
        # here, they stay out of its collections; this process collects them again once the child exists.
        gc.freeze()
        try:
            self._proc.start()
        finally:
            gc.unfreeze()
        # Only the child reads tasks: with this process's copy of the read end closed, a send to a child that
        # died fails (broken pipe) instead of blocking for ever once the pipe's buffer is full.
        self._tasks._reader.close()

    @property
    def has_frames(self) -> bool:
        return self._has_frames

    def write(self, rgb: np.ndarray, hands) -> None:
        if self._done or self._input_ended:
            raise ValueError(f"{self.path}: writer is closed")
        if rgb.shape != self.shape:
            size, video = f"{rgb.shape[1]}x{rgb.shape[0]}", f"{self.shape[1]}x{self.shape[0]}"
            raise ValueError(f"frame size {size} differs from the video's {video}")
        slot = self._next_free_slot()
        self._frames[slot] = rgb
        self._send(("frame", slot, overlay_hands(hands)))
        self._has_frames = True

    def repeat_last(self) -> None:
        if self._done or self._input_ended:
            raise ValueError(f"{self.path}: writer is closed")
        self._raise_child_error()
        self._send(("repeat",))

    def end_input(self) -> None:
        """No more frames: the child draws those it has, ends the stream and flushes the file to disk
        (under its temporary name) without being waited for, so that this overlaps other work (a video's
        last frame files); `close` then only gives the file its name, `abort` still drops it."""
        if self._done or self._input_ended:
            raise ValueError(f"{self.path}: writer is closed")
        self._raise_child_error()
        self._send(("finish",))
        self._input_ended = True

    def _send(self, task: tuple) -> None:
        """A task to the child; if the child is gone, its error (or its exit) is raised instead."""
        try:
            self._tasks.put(task)
        except OSError:  # broken pipe: the child has ended
            self._proc.join(5.0)
            self._raise_child_error()
            raise

    def close(self) -> Path:
        """Wait for every frame, publish the file (or raise the child's error; no file then)."""
        self._finish("close")
        return self.path

    def abort(self) -> None:
        """Drop the frames not yet encoded and the temporary file; waits for the child."""
        if not self._done:
            with contextlib.suppress(Exception):  # the child's own error: the file is gone either way
                self._finish("abort")

    def _finish(self, how: str) -> None:
        self._done = True
        outcome: tuple = ("error", "RuntimeError", "interrupted", "")
        try:
            if self._proc.is_alive():
                with contextlib.suppress(OSError):  # it ended meanwhile: its outcome is read below
                    self._tasks.put((how,))
            outcome = self._outcome(wait=True)
        finally:
            self._stop(published=outcome[0] == "closed")
        if outcome[0] == "error":
            raise _rebuilt(outcome)

    def _next_free_slot(self) -> int:
        while True:
            self._raise_child_error()
            if self._free._reader.poll(self.POLL_S):  # SimpleQueue has no timeout of its own
                return self._free.get()

    def _raise_child_error(self) -> None:
        if not self._results.empty() or not self._proc.is_alive():
            outcome = self._outcome(wait=False)
            self._done = True
            self._stop(published=False)
            raise _rebuilt(outcome) if outcome[0] == "error" else RuntimeError(f"{self.path}: overlay writer stopped")

    def _outcome(self, wait: bool) -> tuple:
        while True:
            if not self._results.empty():
                return self._results.get()
            if not self._proc.is_alive():
                if not self._results.empty():
                    continue
                return ("error", "RuntimeError", f"overlay process ended (exit code {self._proc.exitcode})", "")
            if not wait:
                return ("error", "RuntimeError", "overlay process stopped", "")
            self._proc.join(self.POLL_S)

    def _stop(self, published: bool) -> None:
        """Wait for the child (kill it if it hangs); remove the temporary file unless it became the video."""
        self._proc.join(5.0)
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join()
        if not published:
            self._writer.abort()


def _rebuilt(outcome: tuple) -> BaseException:
    """The child's exception here: same type where it is a builtin one, its message and traceback."""
    _, name, message, trace = outcome
    cls = getattr(builtins, name, None)
    error = cls(message) if isinstance(cls, type) and issubclass(cls, Exception) else RuntimeError(f"{name}: {message}")
    if trace and hasattr(error, "add_note"):  # Python 3.11+
        error.add_note(f"in the overlay process:\n{trace}")
    return error


def _serve(tasks, free, results, frames: np.ndarray, writer: VideoWriter, K: np.ndarray, draw: Draw) -> None:
    """The child: frames in order from `tasks`, each slot handed back once drawn."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    import torch

    torch.set_num_threads(1)
    keep_freed_memory()  # the same frame-sized arrays every frame: no page faults for them (`heap`)
    last = None
    try:
        while True:
            task = tasks.get()
            if task[0] == "frame":
                _, slot, hands = task
                last = draw(frames[slot], hands, K, uncertainty=False)
                if np.shares_memory(last, frames[slot]):  # no hand: the frame itself
                    last = last.copy()
                free.put(slot)
                writer.write(last)
            elif task[0] == "repeat":
                if last is not None:
                    writer.write(last)
            elif task[0] == "finish":
                writer.finish()  # the parent's "close" or "abort" follows
            elif task[0] == "close":
                writer.close()
                results.put(("closed",))
                return
            else:
                writer.abort()
                results.put(("aborted",))
                return
    except BaseException as e:
        writer.abort()
        results.put(("error", type(e).__name__, str(e), traceback.format_exc()))
    finally:
        sys.stdout.flush()


def can_fork() -> bool:
    """Whether the overlay may go to a forked child: Linux, and not inside a daemonic process (which may
    not have children)."""
    return (
        sys.platform.startswith("linux")
        and "fork" in multiprocessing.get_all_start_methods()
        and not multiprocessing.current_process().daemon
    )


def overlay_writer(
    path: Path,
    fps: float,
    K: np.ndarray,
    width: int,
    height: int,
    draw: Draw = overlay_image,
    in_process: bool | None = None,
) -> InlineOverlayWriter | ProcessOverlayWriter:
    """The overlay writer for a video: in a child process where `can_fork` (or as `in_process` says)."""
    use_process = can_fork() if in_process is None else in_process
    return (ProcessOverlayWriter if use_process else InlineOverlayWriter)(path, fps, K, width, height, draw)
