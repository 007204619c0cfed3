"""Silencing what native libraries (MediaPipe, TFLite, FFmpeg) print to file descriptor 2.

Their C++ log levels cannot be set from Python, and their warnings would break the one-line messages of
the command line. Python's own stderr (messages, progress bars) keeps the terminal in both forms:
`silence_native_stderr` (for a whole command-line run) points descriptor 2 at /dev/null and moves
`sys.stderr` to a duplicate of the original; `quiet_native_stderr` does the first half for the length of
a block. HANDRECON_NATIVE_LOGS=1 keeps native logs.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

_silenced = False  # descriptor 2 points at /dev/null for the rest of the process


def _keep_native_logs() -> bool:
    return os.environ.get("HANDRECON_NATIVE_LOGS") == "1"


def _point_fd2_at_devnull() -> int:
    """Redirect descriptor 2 to /dev/null; returns a duplicate of what it was."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
    finally:
        os.close(devnull)
    return saved


def silence_native_stderr() -> None:
    """For the rest of the process: native output on descriptor 2 goes to /dev/null, `sys.stderr` keeps the
    terminal. Nothing is done when stderr is already redirected (e.g. captured by a test harness)."""
    global _silenced
    if _silenced or _keep_native_logs() or sys.stderr is not sys.__stderr__:
        return
    try:
        keep = _point_fd2_at_devnull()
        sys.stderr = os.fdopen(keep, "w", buffering=1)
        _silenced = True
    except (OSError, ValueError):
        pass


def native_stderr_set_for_process() -> bool:
    """Whether descriptor 2 is settled for the whole process: silenced (`silence_native_stderr`, as in every
    command-line run) or kept on purpose (HANDRECON_NATIVE_LOGS=1). Then native libraries may write at any
    time without noise the user did not ask for; otherwise only inside `quiet_native_stderr` blocks."""
    return _silenced or _keep_native_logs()


@contextlib.contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Native output on descriptor 2 goes to /dev/null inside the block; Python errors still raise."""
    if _silenced or _keep_native_logs():
        yield
        return
    try:
        saved = _point_fd2_at_devnull()
    except (OSError, ValueError, AttributeError):
        yield
        return
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
