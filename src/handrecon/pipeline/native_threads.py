"""Native thread pools held to one thread while a run's own threads are its parallelism.

OpenBLAS (NumPy's and SciPy's copies) and OpenCV keep worker threads that busy-wait (`sched_yield`) for a
while after each call, so that the next call starts at once. A video run calls them from its stage threads
many times a frame on small problems (the fit's 30 x 30 solves, one colour conversion), and on 2 cores
their spinning took a core's share from the stages that do the work: about 20-30 ms of CPU per 640 x 480
frame in a thread that computed nothing (seen in /proc per-thread times and a debugger's stacks). With
one thread the calls run on the calling thread; small problems give the same numbers either way.

The limits are process-wide and restored on exit; libraries loaded later are not affected.
"""

from __future__ import annotations

import contextlib
import ctypes
import sys
from collections.abc import Callable, Iterator

# (getter, setter) symbol names of the OpenBLAS builds that NumPy and SciPy wheels bundle
_OPENBLAS_SYMBOLS = [
    (f"{prefix}openblas_get_num_threads{suffix}", f"{prefix}openblas_set_num_threads{suffix}")
    for prefix in ("", "scipy_")
    for suffix in ("", "64_")
]


def _loaded_openblas() -> list[tuple[Callable[[], int], Callable[[int], None]]]:
    """(get, set) thread-count functions of each OpenBLAS library loaded in this process (Linux: read
    from /proc/self/maps; elsewhere none are found and nothing is limited)."""
    try:
        with open("/proc/self/maps") as fh:
            paths = sorted({line.split(maxsplit=5)[-1].strip() for line in fh if "openblas" in line.lower()})
    except OSError:
        return []
    found = []
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for get_name, set_name in _OPENBLAS_SYMBOLS:
            if hasattr(lib, get_name) and hasattr(lib, set_name):
                get, put = getattr(lib, get_name), getattr(lib, set_name)
                get.restype, get.argtypes = ctypes.c_int, []
                put.restype, put.argtypes = None, [ctypes.c_int]
                found.append((get, put))
                break
    return found


@contextlib.contextmanager
def single_threaded_native_pools() -> Iterator[None]:
    """OpenBLAS and OpenCV (if loaded) run single-threaded inside the block; their thread counts are
    restored afterwards, also on an error or Ctrl-C."""
    restore: list[Callable[[], None]] = []
    try:
        for get, put in _loaded_openblas():
            before = get()
            if before != 1:
                put(1)
                restore.append(lambda put=put, before=before: put(before))
        cv2 = sys.modules.get("cv2")
        if cv2 is not None and cv2.getNumThreads() != 1:
            before_cv = cv2.getNumThreads()
            cv2.setNumThreads(1)
            restore.append(lambda: cv2.setNumThreads(before_cv))
        yield
    finally:
        for undo in reversed(restore):
            undo()
