"""Native thread pools held to one thread while a run's own threads or processes are its parallelism.

OpenBLAS (NumPy's and SciPy's copies) and OpenCV keep worker threads that busy-wait (`sched_yield`) for a
while after each call, so that the next call starts at once. A run calls them many times per image on
small problems (the fit's 30 x 30 solves, one colour conversion), and on 2 cores their spinning took a
core's share from the threads that do the work: about 20-30 ms of CPU per 640 x 480 video frame in a
thread that computed nothing (seen in /proc per-thread times and a debugger's stacks). With one thread
the calls run on the calling thread; small problems give the same numbers either way.

The BLAS libraries are found and limited by threadpoolctl (every loaded copy, on every platform it
supports); OpenCV's pool through `cv2.setNumThreads`. The limits are process-wide and restored on exit;
libraries loaded later are not affected, so enter the block once the models are loaded.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def single_threaded_native_pools(load_opencv: bool = False) -> Iterator[None]:
    """OpenBLAS (and any other loaded BLAS) and OpenCV (if loaded) run single-threaded inside the block;
    their thread counts are restored afterwards, also on an error or Ctrl-C. `load_opencv`: import OpenCV
    first, so that its pool is limited too (a photo run loads it on its first image, after the block is
    entered)."""
    from threadpoolctl import threadpool_limits

    if load_opencv:
        with contextlib.suppress(ImportError):
            import cv2  # noqa: F401

    with contextlib.ExitStack() as restore:
        restore.enter_context(threadpool_limits(limits=1, user_api="blas"))
        cv2 = sys.modules.get("cv2")
        if cv2 is not None and cv2.getNumThreads() != 1:
            before_cv = cv2.getNumThreads()
            cv2.setNumThreads(1)
            restore.callback(cv2.setNumThreads, before_cv)
        yield
