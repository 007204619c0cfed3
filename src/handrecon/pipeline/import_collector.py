"""Loading torch and the pipeline with Python's cyclic garbage collector paused.

Importing torch, SciPy and the pipeline creates about 300 000 objects that the collector tracks; while
they load, the collector runs some 300 times over the growing heap, which is 0.3-0.4 s of the ~2 s of CPU
the import takes (`benchmarks/folder_timeline.py`; nothing of it is garbage that matters: modules,
functions, classes that live as long as the process). With the collector paused during the import and the
loaded objects then frozen (`gc.freeze`: moved to a generation the collector never examines again), that
time is not spent, and no later collection walks them either.

Used where one process loads the pipeline and then lives for the whole run: the `--workers` fork server
(first and last modules of its preload, `batch.WORKER_PRELOAD`; the workers it forks share the frozen
objects and start with the collector on), and the command's own process when it runs the inputs itself.
Freezing leaves whatever cyclic garbage the import made in memory (a few hundred kB; measured: the same
peak memory): in a process that is not the command's own (tests, API callers) nothing is frozen and the
collector simply resumes.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def collector_paused(freeze: bool) -> Iterator[None]:
    """The block runs with the cyclic collector off (as it was before, if it was already off); then, with
    `freeze`, every object tracked by then is frozen, and the collector is on again if it was on."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if freeze:
            gc.freeze()
        if was_enabled:
            gc.enable()


def pause_in_fork_server() -> bool:
    """In multiprocessing's fork server only: the collector off for its preload (`resume_in_fork_server`
    ends that). Elsewhere nothing. Returns whether it paused."""
    from handrecon.pipeline.process_exit import running_in_fork_server

    if not running_in_fork_server():
        return False
    gc.disable()
    return True


def resume_in_fork_server() -> bool:
    """In the fork server only, at the end of its preload: what the preload loaded is frozen and the
    collector is on again (the workers are forked with it on). Elsewhere nothing."""
    from handrecon.pipeline.process_exit import running_in_fork_server

    if not running_in_fork_server():
        return False
    gc.freeze()
    gc.enable()
    return True
