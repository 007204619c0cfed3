"""A batch of photos and videos into one output folder: one input at a time in this process, or spread
over worker processes that each hold their own models. Either way every input gives one outcome (a line to
print, failure lines, whether its outputs were written), and a failing input never stops the others.

Workers ignore Ctrl-C: the parent stops them (SIGTERM, then waits for them), and then removes the
temporary files they had open (`remove_stale_temporaries`: their writers are gone), so an interrupted run
leaves neither processes nor partial files behind.
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from handrecon.pipeline.native_threads import single_threaded_native_pools

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
    # a pool's parent detects hands on photos while the workers start (`handrecon.pipeline.predetect`);
    # only for `HandReconstructor` keywords, whose detector settings it can read
    predetect: bool = False


@dataclass
class InputOutcome:
    index: int
    written: bool = False
    message: str = ""  # the line printed for this input
    failures: list[str] = field(default_factory=list)


def _one_line(x: object) -> str:
    from handrecon.io import one_line

    return one_line(x)


def _record_failure(outcome: InputOutcome, name: str, e: Exception) -> InputOutcome:
    """The input's failure line: an `InputError` as it is, anything else with its type (one bad input must
    not stop the batch)."""
    from handrecon.io import InputError

    if isinstance(e, InputError):
        outcome.failures.append(str(e))
        outcome.message = f"error: {e}"
    else:
        line = _one_line(f"{name}: {type(e).__name__}: {' '.join(str(e).split())}")
        outcome.failures.append(line)
        outcome.message = f"error: {line}"
    return outcome


def start_input(
    rec, job: BatchJob, index: int, path: Path, stem: str, progress: bool = False, detections: list | None = None
) -> tuple[InputOutcome, Callable[[], InputOutcome] | None]:
    """Reconstruct one photo or video into `job.out`. Returns its outcome and, for a photo whose hands were
    found, the call that writes its files and completes the outcome (run it at once, or on a background
    thread while the next input is reconstructed); None when the outcome is final (a failure, a video: its
    frames are written as they are read). Any error becomes the outcome's failure line. `detections`: the
    photo's hands as already detected (`handrecon.pipeline.predetect`), not detected again."""
    from handrecon.io import InputError

    outcome = InputOutcome(index)
    name = _one_line(path)
    try:
        if path.suffix.lower() in VIDEO_EXTS:
            # imported for videos only: the video path's modules (tracking, SciPy's optimiser, the overlay
            # writer) cost a photo run ~0.3-0.6 s of start-up
            from handrecon.pipeline.video import reconstruct_video_file

            summary = reconstruct_video_file(
                rec, path, job.out / stem, formats=job.formats, overlay=job.overlay, progress=progress
            )
            outcome.failures += [f"{name} frame {i}: {_one_line(reason)}" for i, reason in summary.frame_failures]
            if summary.frames_with_hands == 0:
                raise InputError(path, f"no hand found in any of its {summary.frames} frame(s)")
            outcome.written = True
            outcome.message = (f"{name}: hands in {summary.frames_with_hands} of {summary.frames} frame(s) -> "
                               f"{_one_line(summary.json_dir)}")  # fmt: skip
            return outcome, None
        rgb, K, k_source = rec.load(path)
        hands = rec.reconstruct(rgb, K=K) if detections is None else rec.reconstruct_detected(rgb, K, detections)
        if not hands:
            raise InputError(path, "no hand found")
    except KeyboardInterrupt:
        raise
    except Exception as e:
        return _record_failure(outcome, name, e), None

    def write() -> InputOutcome:
        from handrecon.pipeline.outputs import write_image_outputs

        try:
            files = write_image_outputs(
                job.out, stem, str(path), rgb, hands, K.numpy(), job.formats, overlay=job.overlay,
                extra={"camera_source": k_source},
            )  # fmt: skip
        except KeyboardInterrupt:
            raise
        except Exception as e:
            return _record_failure(outcome, name, e)
        outcome.written = True
        outcome.message = f"{name}: {len(hands)} hand(s) -> {_one_line(files.json)}"
        return outcome

    return outcome, write


def process_input(rec, job: BatchJob, index: int, path: Path, stem: str, progress: bool = False) -> InputOutcome:
    """Reconstruct one photo or video into `job.out` and write its files; any error becomes the outcome's
    failure line."""
    outcome, write = start_input(rec, job, index, path, stem, progress)
    return write() if write is not None else outcome


def _final(outcome: InputOutcome) -> InputOutcome:
    return outcome


def make_reconstructor(job: BatchJob):
    return job.factory(**job.reconstructor)


# A photo's files are written while the next input is reconstructed: at most one photo waits (its pixels
# and results are held until written).
WRITES_PENDING = 1


def run_serial(
    rec, job: BatchJob, inputs: Sequence[Path], stems: Sequence[str], progress: bool = False
) -> Iterator[InputOutcome]:
    """The inputs one after the other with the caller's reconstructor, each photo's files written on a
    background thread while the next input is reconstructed; outcomes in input order."""
    from handrecon.pipeline.background import BackgroundWriter

    writer = BackgroundWriter(max_pending=WRITES_PENDING, name="handrecon-outputs")
    try:
        for i, (path, stem) in enumerate(zip(inputs, stems, strict=True)):
            outcome, write = start_input(rec, job, i, path, stem, progress)
            finished = writer.submit(write) if write is not None else writer.submit(_final, outcome)
            yield from finished
        yield from writer.close()
    except BaseException:  # Ctrl-C, the caller stopping early: the photo being written finishes, no more
        writer.abort()
        raise


# ------------------------------------------------------------------------------------------------
# worker processes

_WORKER_REC = None
_WORKER_JOB: BatchJob | None = None
_WORKER_WRITER = None  # BackgroundWriter of the worker's photo files
_WORKER_RESULTS = None  # queue to the parent: outcomes of photos written in the background
_WORKER_LIMITS = contextlib.ExitStack()  # the native pools' limits, held until the worker exits


def _worker_start(job: BatchJob, threads: int, results=None, ready=None) -> None:
    """In each worker: Ctrl-C is the parent's to handle; own models; a share of the cores; a background
    writer whose outcomes go to the parent through `results`; then `ready` is set (the parent stops its
    own detection)."""
    global _WORKER_REC, _WORKER_JOB, _WORKER_WRITER, _WORKER_RESULTS
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    gc.enable()  # on already, unless the server's last preload module failed to import
    import torch

    from handrecon.io.native_stderr import silence_native_stderr

    silence_native_stderr()
    torch.set_num_threads(threads)
    _WORKER_JOB = job
    from handrecon.pipeline.worker_prototype import take

    # the fork server's prototype when it was built for this job (`worker_prototype`), else the worker's own
    _WORKER_REC = take(job.factory, job.reconstructor) or make_reconstructor(job)
    # for the worker's life (its libraries are loaded now): the processes are the parallelism
    _WORKER_LIMITS.enter_context(single_threaded_native_pools(load_opencv=True))
    if results is not None:
        from handrecon.pipeline.background import BackgroundWriter

        _WORKER_RESULTS = results
        _WORKER_WRITER = BackgroundWriter(max_pending=WRITES_PENDING, name="handrecon-outputs")
    if ready is not None:
        ready.set()


def _write_and_report(write: Callable[[], InputOutcome]) -> None:
    _WORKER_RESULTS.put(write())


def _worker_process(index: int, path: Path, stem: str, detections: list | None = None) -> InputOutcome | None:
    """The input's outcome, or None when its files are being written in the background (the outcome then
    comes through the results queue)."""
    outcome, write = start_input(_WORKER_REC, _WORKER_JOB, index, path, stem, progress=False, detections=detections)
    if write is None:
        return outcome
    if _WORKER_WRITER is None:
        return write()
    _WORKER_WRITER.submit(_write_and_report, write)  # waits while the previous photo is still being written
    return None


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


# What the fork server imports before it forks any worker: every module a worker of a photo batch loads
# (the pipeline and torch; the default detector, LiteRT, OpenCV, the output writers and renderers, Pillow's
# decoders), so that no worker imports them again after its fork. Imports only: no model, interpreter or
# thread pool is created in the server (LiteRT interpreters are made at a worker's first photo). A module
# that fails to import is skipped by the server and imported by the worker that needs it.
WORKER_PRELOAD = (
    "handrecon.pipeline.fork_server_start",  # first: the garbage collector paused while the server imports
    "handrecon.pipeline.image",
    "handrecon.pipeline.network_init",  # the photos' default start
    "handrecon.assets",
    "handrecon.api",
    "handrecon.commands.reconstruct",
    "handrecon.pipeline.batch",
    "handrecon.pipeline.outputs",
    "handrecon.detect.multi_source",
    "ai_edge_litert.interpreter",
    "cv2",
    "threadpoolctl",
    "PIL.JpegImagePlugin",
    "PIL.PngImagePlugin",
    # last: the loaded objects frozen, the collector on again; the server exits without tearing them down
    "handrecon.pipeline.fork_server_prototype",  # the workers' reconstructor, when the command passed settings
    "handrecon.pipeline.fork_server_exit",
)


def _worker_context():
    """Linux: a fork server that imports the pipeline's modules once (`WORKER_PRELOAD`: torch, the
    detector, the writers) and forks the workers from itself, so that each starts with them imported
    (their import was most of a worker's start-up: 15.3 s of CPU for 12 photos with 2 spawned workers vs
    6.3 s in one process). The server is a fresh process: forking it is safe whatever this process has
    run. Elsewhere: spawn."""
    import multiprocessing

    if sys.platform.startswith("linux"):
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(list(WORKER_PRELOAD))
        return ctx
    return multiprocessing.get_context("spawn")


def start_worker_server(factory: Callable[..., object] | None = None, reconstructor: dict | None = None) -> None:
    """Start the fork server now (Linux), so that its imports run while this process does its own:
    call it as early as a pool is known to be needed. With the job's `factory` and `reconstructor` keywords
    the server also builds the workers' reconstructor once (`worker_prototype`); a job with other settings
    later gets workers that build their own."""
    ctx = _worker_context()
    if ctx.get_start_method() == "forkserver":
        from multiprocessing import forkserver

        from handrecon.pipeline.worker_prototype import server_environment

        extra = server_environment(factory, reconstructor) if factory is not None and reconstructor is not None else {}
        with _environment(extra):  # the server is started with this process's environment
            forkserver.ensure_running()


@contextlib.contextmanager
def _environment(extra: dict[str, str]) -> Iterator[None]:
    """`extra` in os.environ for the block (children started in it inherit them), as it was after."""
    before = {k: os.environ.get(k) for k in extra}
    os.environ.update(extra)
    try:
        yield
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _pool_broken(pool: ProcessPoolExecutor) -> bool:
    """Whether a worker died (the executor then marks itself broken) or none is left."""
    procs = list((getattr(pool, "_processes", None) or {}).values())
    return bool(getattr(pool, "_broken", False)) or not any(p.is_alive() for p in procs)


def run_pool(
    job: BatchJob, inputs: Sequence[Path], stems: Sequence[str], workers: int
) -> Iterator[InputOutcome]:
    """The inputs spread over `workers` processes (`_worker_context`), outcomes in the order they finish.
    At most two inputs wait per worker, so a stop loses little queued work. A worker writes a photo's files
    on a background thread while it reconstructs its next input; those outcomes come back through a queue
    (a task's own result is then None), and the pool is shut down only once every input has reported."""
    import queue
    from collections import deque

    from handrecon.io import remove_stale_temporaries

    threads = COMPUTE_THREADS
    ctx = _worker_context()
    results = ctx.Queue()
    ready = ctx.Event()
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=ctx,
        initializer=_worker_start,
        initargs=(job, threads, results, ready),
    )
    pending: dict[Future, int] = {}
    outstanding: set[int] = set()  # inputs submitted whose outcome has not come back
    todo = deque(range(len(inputs)))  # workers take from the front, the parent's detection from the back
    detected: dict[int, list] = {}  # inputs whose hands the parent detected while the workers started
    finished = False

    def failed(i: int, why: str) -> InputOutcome:
        line = _one_line(f"{inputs[i]}: worker process failed: {why}")
        return InputOutcome(i, False, f"error: {line}", [line])

    try:

        def submit_more() -> None:
            while len(pending) < 2 * workers:
                if not todo:
                    return
                i = todo.popleft()
                pending[pool.submit(_worker_process, i, inputs[i], stems[i], detected.pop(i, None))] = i
                outstanding.add(i)

        if job.predetect and ctx.get_start_method() == "forkserver":
            # Starting the workers waits for the fork server's imports (seconds on one core): a thread waits
            # for it while this one detects hands on the last inputs, until a worker is ready. Forked
            # workers ignore Ctrl-C from their first step (`_worker_start`); the parent handles it.
            _start_while_detecting(job, inputs, todo, detected, submit_more, ready, pool, 2 * workers)
        else:
            # spawned workers start with Ctrl-C ignored (an ignored signal stays ignored in the new
            # interpreter), else a Ctrl-C while they import prints their tracebacks. The parent handles it.
            main_thread = threading.current_thread() is threading.main_thread()
            previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if main_thread else None
            try:
                submit_more()
            finally:
                if main_thread:
                    signal.signal(signal.SIGINT, previous)
        while outstanding:
            done = wait(list(pending), timeout=0.05, return_when=FIRST_COMPLETED)[0] if pending else set()
            for fut in done:
                i = pending.pop(fut)
                try:
                    outcome = fut.result()
                except Exception as e:  # the worker itself died (out of memory, a crash in native code)
                    outcome = failed(i, f"{type(e).__name__}: {e}")
                if outcome is not None:
                    outstanding.discard(i)
                    yield outcome
            while True:  # outcomes of photos written in the background
                try:
                    outcome = results.get(timeout=0.5) if not pending and outstanding else results.get_nowait()
                except queue.Empty:
                    break
                outstanding.discard(outcome.index)
                yield outcome
            if not pending and outstanding and _pool_broken(pool):  # their writer is gone
                for i in sorted(outstanding):
                    yield failed(i, "exited before writing its outputs")
                outstanding.clear()
            submit_more()
        finished = True
    finally:
        if finished:
            pool.shutdown(wait=True)
        else:  # Ctrl-C or an error in the caller: stop now
            _stop_workers(pool)
            remove_stale_temporaries(job.out, max_depth=3)
        results.close()
        results.cancel_join_thread()


def _start_while_detecting(
    job: BatchJob,
    inputs: Sequence[Path],
    todo: Sequence[int],
    detected: dict[int, list],
    submit: Callable[[], None],
    ready,
    pool: ProcessPoolExecutor,
    first: int,
) -> None:
    """`submit()` (the first `first` inputs of `todo`: it starts the workers) on a thread while this thread
    detects hands on the others, from the end, until a worker is `ready`; returns once `submit` is done
    (its error raised here)."""
    errors: list[BaseException] = []

    def start() -> None:
        try:
            submit()
        except BaseException as e:  # re-raised in the caller's thread
            errors.append(e)

    starter = threading.Thread(target=start, name="handrecon-pool-start", daemon=True)
    later = list(todo)[first:]  # the inputs `submit` leaves waiting
    starter.start()
    try:
        stop = lambda: ready.is_set() or bool(errors) or bool(getattr(pool, "_broken", False))  # noqa: E731
        _detect_while_starting(job, inputs, later, detected, stop)
    finally:
        starter.join()
    if errors:
        raise errors[0]


def _detect_while_starting(
    job: BatchJob, inputs: Sequence[Path], todo: Sequence[int], detected: dict[int, list], stop: Callable[[], bool]
) -> None:
    """Until `stop()`: hands of the inputs waiting in `todo`, from its end, into `detected` (an input the
    parent cannot read or detect is left out: its worker does it all). `handrecon.pipeline.predetect`."""
    from handrecon.pipeline.predetect import StartupDetector, detection_settings

    settings = detection_settings(job.reconstructor)
    if settings is None:
        return
    detector = StartupDetector(settings)
    try:
        for i in reversed(list(todo)):
            if stop():
                return
            dets = detector.detect(Path(inputs[i]))
            if dets is not None:
                detected[i] = dets
    finally:
        detector.close()


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
        from handrecon.pipeline.import_collector import collector_paused
        from handrecon.pipeline.process_exit import owns_process

        with collector_paused(freeze=owns_process()):  # torch and the pipeline load here: `import_collector`
            import torch

            threads = torch.get_num_threads()
            torch.set_num_threads(COMPUTE_THREADS)
            try:
                rec = rec_factory(job)
            except BaseException:
                torch.set_num_threads(threads)
                raise
        try:
            try:
                with single_threaded_native_pools(load_opencv=True):  # the writer thread is the parallelism
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

