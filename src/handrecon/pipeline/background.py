"""Writing outputs on one background thread while the next input (a video frame, a photo) is detected and
fitted: torch, OpenCV, zlib and file writes release the GIL, so a second core works (and an fsync's wait
overlaps the fit even on one core)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any


class BackgroundWriter:
    """Runs the submitted calls on one thread, in order. At most `max_pending` calls wait or run (bounded
    memory: each holds its input's pixels and results); `submit` waits for the oldest beyond that.

    `submit` and `close` return the results of the calls finished so far, oldest first, in submission
    order (a finished call waits for those before it); the first error a call raised is raised there
    instead. `abort` drops the calls not started and waits for the running one (whose atomic writes then
    finish or remove their temporary files)."""

    def __init__(self, max_pending: int = 8, name: str = "handrecon-writer") -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._pending: deque[Future] = deque()
        self.max_pending = max_pending

    def submit(self, fn: Callable[..., Any], *args: Any) -> list[Any]:
        self._pending.append(self._pool.submit(fn, *args))
        finished = []
        while len(self._pending) > self.max_pending or (self._pending and self._pending[0].done()):
            finished.append(self._pending.popleft().result())
        return finished

    def close(self) -> list[Any]:
        """Wait for every call (raising the first error); their results in submission order."""
        finished = []
        try:
            while self._pending:
                finished.append(self._pending.popleft().result())
        finally:
            self._pool.shutdown(wait=True)
        return finished

    def abort(self) -> None:
        """Drop the calls not started, wait for the one running."""
        for f in self._pending:
            f.cancel()
        self._pending.clear()
        self._pool.shutdown(wait=True, cancel_futures=True)
