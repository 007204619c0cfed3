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
import threading
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


_CALL_LOCK = threading.Lock()
_CALLS_INSIDE = 0  # calls of the in-process API inside `single_threaded_pools_for_a_call` now
_CALL_RESTORE: contextlib.ExitStack | None = None
_BLAS_CONTROLLER: tuple[int, object] | None = None  # (len(sys.modules) when made, threadpoolctl's BLAS controller)


def _blas_controller():
    """threadpoolctl's controller of the loaded BLAS libraries, made again only when modules were imported since
    (a library comes with the module that loads it): finding them costs ~1.5 ms, limiting them ~0.04 ms."""
    global _BLAS_CONTROLLER
    if _BLAS_CONTROLLER is None or _BLAS_CONTROLLER[0] != len(sys.modules):
        from threadpoolctl import ThreadpoolController

        _BLAS_CONTROLLER = (len(sys.modules), ThreadpoolController().select(user_api="blas"))
    return _BLAS_CONTROLLER[1]


@contextlib.contextmanager
def single_threaded_pools_for_a_call() -> Iterator[None]:
    """The pools of `single_threaded_native_pools` at one thread for one call of the in-process API (a photo's
    `ImageReconstructor.__call__` / `reconstruct_detections`), as the command's photos and videos run.
    In a lone process on 2 cores, NumPy's OpenBLAS worker busy-waited through every photo's fit and packaging
    (the fit's kinematics wake it): 50-69 ms of CPU per one-hand photo in a thread that computed nothing,
    against ~110 ms of wall (benchmarks/photo_timeline.py). The hands are those of a process whose BLAS runs one
    thread, as the command's (on the dev photos: detections, meshes and textures unchanged, fitted parameters
    moved by under 2e-13).

    Cheap per call (`_blas_controller`). The counts are process-wide: calls from several threads at once share
    one limit, set by the first to enter and restored by the last to leave (also on an error)."""
    global _CALLS_INSIDE, _CALL_RESTORE
    with _CALL_LOCK:
        if _CALLS_INSIDE == 0:
            restore = contextlib.ExitStack()
            try:
                restore.enter_context(_blas_controller().limit(limits=1))
                cv2 = sys.modules.get("cv2")
                if cv2 is not None and cv2.getNumThreads() != 1:
                    restore.callback(cv2.setNumThreads, cv2.getNumThreads())
                    cv2.setNumThreads(1)
            except BaseException:
                restore.close()
                raise
            _CALL_RESTORE = restore
        _CALLS_INSIDE += 1
    try:
        yield
    finally:
        with _CALL_LOCK:
            _CALLS_INSIDE -= 1
            if _CALLS_INSIDE == 0 and _CALL_RESTORE is not None:
                restore, _CALL_RESTORE = _CALL_RESTORE, None
                restore.close()
