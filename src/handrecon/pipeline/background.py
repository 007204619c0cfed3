"""Work beside the fit on background threads: outputs written while the next input (a video frame, a
photo) is detected and fitted, a video's next frames decoded ahead. torch, OpenCV, zlib and file writes
release the GIL, so a second core works (and an fsync's wait overlaps the fit even on one core)."""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


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


_END = object()


def prefetch(items: Iterable[T], depth: int = 2, name: str = "handrecon-reader") -> Iterator[T]:
    """`items` produced on a background thread, at most `depth` ahead of the consumer (a video's next
    frames are decoded while this one is fitted: OpenCV's decoder releases the GIL). An exception of the
    producer is raised here, where its item would have come; when the consumer stops early, the producer
    stops at its next item."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(x: object) -> bool:
        while not stop.is_set():
            try:
                q.put(x, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for x in items:
                if not put((x, None)):
                    return
        except BaseException as e:  # handed to the consumer
            put((_END, e))
            return
        put((_END, None))

    t = threading.Thread(target=produce, name=name, daemon=True)
    t.start()
    try:
        while True:
            x, error = q.get()
            if x is _END:
                if error is not None:
                    raise error
                return
            yield x
    finally:
        stop.set()
        t.join()
