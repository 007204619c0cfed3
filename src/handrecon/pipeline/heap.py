"""Freed memory kept by a process that allocates the same large buffers again and again.

glibc's malloc hands large blocks to the system with `mmap` and returns the top of its heap once more
than a threshold is free there (both thresholds adapt to the largest block freed so far). A loop that
allocates and frees the same ~0.25-1 MB arrays at every step then has every page of them faulted in and
zeroed again by the kernel at every step. The video's overlay process does exactly that (a copy of the
frame and some 30 arrays over the covered pixels per frame): ~1000 page faults and ~3 ms of CPU per
640 x 480 frame, 13.2 -> 10.2 ms of the process's CPU per frame with the memory kept (same pictures).
Photo runs showed no such gain (their arrays are small), so only that process asks for it.
"""

from __future__ import annotations

import ctypes
import sys

# mallopt(3) parameters (glibc's malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
# A block this large or larger still gets its own mapping (a 4K frame's float arrays): 32 MiB is glibc's
# upper limit for the mapping threshold on 64-bit systems.
KEEP_BLOCKS_BELOW = 32 << 20
# Free memory at the top of the heap given back to the system only beyond this.
KEEP_FREE_UP_TO = 256 << 20


def keep_freed_memory() -> bool:
    """This process's malloc keeps freed blocks below `KEEP_BLOCKS_BELOW` for reuse instead of returning
    them to the system (glibc on Linux; elsewhere nothing changes). True when the settings took effect.
    Memory stays at the process's peak use instead of shrinking back between steps."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, KEEP_BLOCKS_BELOW)) and bool(mallopt(M_TRIM_THRESHOLD, KEEP_FREE_UP_TO))
