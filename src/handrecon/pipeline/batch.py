"""A batch of photos and videos into one output folder: one input at a time in this process, or spread
over worker processes that each hold their own models. Either way every input gives one outcome (a line to
print, failure lines, whether its outputs were written), and a failing input never stops the others.

Workers ignore Ctrl-C: the parent stops them (SIGTERM, then waits for them), and then removes the
temporary files they had open (`remove_stale_temporaries`: their writers are gone), so an interrupted run
leaves neither processes nor partial files behind.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

# Torch threads per process: the tensors of one or two hands are too small to split (on a loaded 2-core
# machine a fit took 25x longer with 2 threads than with 1: benchmarks/bench_throughput.py); the command
# uses the cores through worker processes instead.
COMPUTE_THREADS = 1

VIDEO_EXTS = {".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".flv"}


@dataclass(frozen=True)
class BatchJob:
    """What every input of a batch shares: how to build the reconstructor (`factory(**reconstructor)`,
    e.g. `HandReconstructor` and its keywords; picklable, so that a worker process builds its own) and
    what to write."""

    factory: Callable[..., object]
    reconstructor: dict
    out: Path
    formats: tuple[str, ...]
    overlay: bool = True


@dataclass
class InputOutcome:
    index: int
    written: bool = False
    message: str = ""  # the line printed for this input
    failures: list[str] = field(default_factory=list)


def _one_line(x: object) -> str:
    from handrecon.io import one_line

    return one_line(x)


def process_input(rec, job: BatchJob, index: int, path: Path, stem: str, progress: bool = False) -> InputOutcome:
    """Reconstruct one photo or video into `job.out`; any error becomes the outcome's failure line."""
    from handrecon.io import InputError
    from handrecon.pipeline.outputs import write_image_outputs
    from handrecon.pipeline.video import reconstruct_video_file

    outcome = InputOutcome(index)
    name = _one_line(path)
    try:
        if path.suffix.lower() in VIDEO_EXTS:
            summary = reconstruct_video_file(
                rec, path, job.out / stem, formats=job.formats, overlay=job.overlay, progress=progress
            )
            outcome.failures += [f"{name} frame {i}: {_one_line(reason)}" for i, reason in summary.frame_failures]
            if summary.frames_with_hands == 0:
                raise InputError(path, f"no hand found in any of its {summary.frames} frame(s)")
            outcome.written = True
            outcome.message = (f"{name}: hands in {summary.frames_with_hands} of {summary.frames} frame(s) -> "
                               f"{_one_line(summary.json_dir)}")  # fmt: skip
            return outcome
        rgb, K, k_source = rec.load(path)
        hands = rec.reconstruct(rgb, K=K)
        if not hands:
            raise InputError(path, "no hand found")
        files = write_image_outputs(
            job.out, stem, str(path), rgb, hands, K.numpy(), job.formats, overlay=job.overlay,
            extra={"camera_source": k_source},
        )  # fmt: skip
        outcome.written = True
        outcome.message = f"{name}: {len(hands)} hand(s) -> {_one_line(files.json)}"
    except InputError as e:
        outcome.failures.append(str(e))
        outcome.message = f"error: {e}"
    except KeyboardInterrupt:
        raise
    except Exception as e:  # one bad input must not stop the batch
        line = _one_line(f"{name}: {type(e).__name__}: {' '.join(str(e).split())}")
        outcome.failures.append(line)
        outcome.message = f"error: {line}"
    return outcome


def make_reconstructor(job: BatchJob):
    return job.factory(**job.reconstructor)


def run_serial(
    rec, job: BatchJob, inputs: Sequence[Path], stems: Sequence[str], progress: bool = False
) -> Iterator[InputOutcome]:
    """The inputs one after the other with the caller's reconstructor."""
    for i, (path, stem) in enumerate(zip(inputs, stems, strict=True)):
        yield process_input(rec, job, i, path, stem, progress)


# ------------------------------------------------------------------------------------------------
# worker processes

_WORKER_REC = None
_WORKER_JOB: BatchJob | None = None


def _worker_start(job: BatchJob, threads: int) -> None:
    """In each worker: Ctrl-C is the parent's to handle; own models; a share of the cores."""
    global _WORKER_REC, _WORKER_JOB
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import torch

    from handrecon.io.native_stderr import silence_native_stderr

    silence_native_stderr()
    torch.set_num_threads(threads)
    _WORKER_JOB = job
    _WORKER_REC = make_reconstructor(job)


def _worker_process(index: int, path: Path, stem: str) -> InputOutcome:
    return process_input(_WORKER_REC, _WORKER_JOB, index, path, stem, progress=False)


def _stop_workers(pool: ProcessPoolExecutor) -> None:
    """Terminate every worker and wait until each has exited (no orphans)."""
    procs = list((getattr(pool, "_processes", None) or {}).values())
    for p in procs:
        if p.is_alive():
            p.terminate()
    for p in procs:
        p.join(timeout=10)
        if p.is_alive():
            p.kill()
            p.join()
    pool.shutdown(wait=True, cancel_futures=True)


def _worker_context():
    """Linux: a fork server that imports the pipeline's modules once (torch, MediaPipe) and forks the
    workers from itself, so that each starts with them imported (their import was most of a worker's
    start-up: 15.3 s of CPU for 12 photos with 2 spawned workers vs 6.3 s in one process). The server is
    a fresh process: forking it is safe whatever this process has run. Elsewhere: spawn."""
    import multiprocessing

    if sys.platform.startswith("linux"):
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["handrecon.pipeline.image"])
        return ctx
    return multiprocessing.get_context("spawn")


def start_worker_server() -> None:
    """Start the fork server now (Linux), so that its imports run while this process does its own:
    call it as early as a pool is known to be needed."""
    ctx = _worker_context()
    if ctx.get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()


def run_pool(
    job: BatchJob, inputs: Sequence[Path], stems: Sequence[str], workers: int
) -> Iterator[InputOutcome]:
    """The inputs spread over `workers` processes (`_worker_context`), outcomes in the order they finish.
    At most two inputs wait per worker, so a stop loses little queued work."""
    from handrecon.io import remove_stale_temporaries

    threads = COMPUTE_THREADS
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=_worker_context(),
        initializer=_worker_start,
        initargs=(job, threads),
    )
    pending: dict[Future, int] = {}
    todo = iter(enumerate(zip(inputs, stems, strict=True)))
    finished = False
    try:

        def submit_more() -> None:
            while len(pending) < 2 * workers:
                nxt = next(todo, None)
                if nxt is None:
                    return
                i, (path, stem) = nxt
                pending[pool.submit(_worker_process, i, path, stem)] = i

        # spawned workers start with Ctrl-C ignored (an ignored signal stays ignored in the new interpreter),
        # else a Ctrl-C while they import prints their tracebacks; forked ones ignore it from their first
        # step (`_worker_start`). The parent handles it.
        main_thread = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if main_thread else None
        try:
            submit_more()
        finally:
            if main_thread:
                signal.signal(signal.SIGINT, previous)
        while pending:
            done, _ = wait(list(pending), return_when=FIRST_COMPLETED)
            for fut in done:
                i = pending.pop(fut)
                try:
                    yield fut.result()
                except Exception as e:  # the worker itself died (out of memory, a crash in native code)
                    line = _one_line(f"{inputs[i]}: worker process failed: {type(e).__name__}: {e}")
                    yield InputOutcome(i, False, f"error: {line}", [line])
            submit_more()
        finished = True
    finally:
        if finished:
            pool.shutdown(wait=True)
        else:  # Ctrl-C or an error in the caller: stop now
            _stop_workers(pool)
            remove_stale_temporaries(job.out, max_depth=3)


def run_batch(
    job: BatchJob,
    inputs: Sequence[Path],
    stems: Sequence[str],
    workers: int = 1,
    progress: bool = False,
    rec_factory: Callable[[BatchJob], object] = make_reconstructor,
) -> Iterator[InputOutcome]:
    """Outcomes of every input: in this process for one worker (or one input), else in a pool."""
    workers = max(1, min(workers, len(inputs)))
    if workers == 1:
        import torch

        threads = torch.get_num_threads()
        torch.set_num_threads(COMPUTE_THREADS)
        try:
            rec = rec_factory(job)
            try:
                yield from run_serial(rec, job, inputs, stems, progress)
            finally:
                rec.close()
        finally:
            torch.set_num_threads(threads)  # the caller's setting again (the command may run in-process)
    else:
        yield from run_pool(job, inputs, stems, workers)


WORKERS_ENV = "HANDRECON_WORKERS"


def default_workers() -> int:
    """$HANDRECON_WORKERS when set, else the machine's cores (those this process may run on, where the
    platform says)."""
    value = os.environ.get(WORKERS_ENV, "").strip()
    if value:
        from handrecon.io import SettingError

        if not value.isdigit() or int(value) < 1:
            raise SettingError(WORKERS_ENV, f"must be a whole number of at least 1, got {value!r}")
        return int(value)
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)

