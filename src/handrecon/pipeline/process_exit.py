"""Ending a `handrecon` process without tearing down its modules.

A process that has imported torch, SciPy, OpenCV and LiteRT spends about 1.1 s of CPU on the interpreter's
own teardown (collecting and freeing every module's objects; 3.8 s of wall time on a 2-core machine at load
6-7), against 0.06 s with `os._exit`, after its work is done and its files are closed. Two processes of a run pay
it: the command's own process when it ran the inputs itself, and the `--workers` fork server, which exits
only after the command's process (a caller reading the command's output waits for both: the server
inherits its stderr).

`end_process` ends the command's process as the interpreter would (its non-daemon threads joined, its
`atexit` handlers run, its output flushed) but skips the teardown. The fork server's teardown is skipped by
importing `handrecon.pipeline.fork_server_exit` in its preload (`batch.WORKER_PRELOAD`).
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
from typing import NoReturn

# Whether this process is the command's own from start to end (the console command, not a test or an API
# caller running `cli.main` in its process): it may then also freeze what it loaded (`import_collector`).
_OWNED = False


def claim_process() -> None:
    """Called by the console command before it runs: the process is the command's until it ends."""
    global _OWNED
    _OWNED = True


def owns_process() -> bool:
    return _OWNED


def _flush_standard_streams() -> None:
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            stream.flush()


def end_process(code: int) -> NoReturn:
    """Exit with `code` after what a normal exit does before the teardown: non-daemon threads joined (and
    thread pools told to stop: `threading._shutdown`), `atexit` handlers run, standard streams flushed.
    Where this Python lacks those hooks, or the output cannot be flushed (a closed pipe), it exits the
    normal way instead (`sys.exit`), teardown included."""
    shutdown_threads = getattr(threading, "_shutdown", None)
    run_exit_handlers = getattr(atexit, "_run_exitfuncs", None)
    if shutdown_threads is None or run_exit_handlers is None:
        sys.exit(code)
    try:
        _flush_standard_streams()
        shutdown_threads()
        run_exit_handlers()
        _flush_standard_streams()
    except BaseException:  # a closed pipe, Ctrl-C while joining: the interpreter's own exit handles it
        sys.exit(code)
    os._exit(code)


def _exit_now() -> None:
    """The fork server's last step (its `atexit` handler): it has no files open for writing and no
    children of its own left (the command's process has joined its workers before it ends)."""
    try:
        _flush_standard_streams()
    finally:
        os._exit(0)


def running_in_fork_server() -> bool:
    """Whether this code runs inside multiprocessing's fork server (its preload imports are made from
    `multiprocessing.forkserver.main`)."""
    forkserver = sys.modules.get("multiprocessing.forkserver")
    server_main = getattr(getattr(forkserver, "main", None), "__code__", None)
    if server_main is None:
        return False
    frame = sys._getframe()
    while frame is not None:
        if frame.f_code is server_main:
            return True
        frame = frame.f_back
    return False


def exit_fork_server_without_teardown() -> bool:
    """In the fork server only: end it with `os._exit` once its `main` returns (its atexit handlers are run
    last in, first out: this one, registered by the preload, runs before multiprocessing's, which have
    nothing to do in the server). Elsewhere nothing. Returns whether it was registered."""
    if not running_in_fork_server():
        return False
    atexit.register(_exit_now)
    return True
