"""Where the time of one photo goes in the in-process API (`HandReconstructor.reconstruct`, what the speed
figure of bench_reconstruct.py times), and which threads of the process are busy meanwhile.

Printed for the one-hand dev photos of bench_reconstruct.py's speed figure (read in place from
../shared/devdata), per photo over `--runs` passes after a warm-up pass:

- per stage: wall and process CPU (every thread of the process) in ms, and calls per photo. The stages nest:
  the detector (each bundled model's runs apart, and the rest: crops, decoding, NMS), the observations (the
  landmark network apart), the fit, the packaging (the texture apart). CPU above wall means a second thread
  was busy during the stage: the interpreters' own threads, or a BLAS worker waiting for work;
- per thread (Linux): CPU of each thread during the timed passes, labelled by when the thread appeared
  (NumPy's import starts OpenBLAS's workers; the first photo starts each interpreter's thread pool).

`--overlap` adds an experiment, side by side in the same process (photo by photo, order alternating per
pass): the hands of the detector's first verification (before the body pass and the crops beside each
hand) get their observations and fit on a worker thread while the detector goes on; when the detector's final
hands have the same fit inputs (side, keypoints, world landmarks, sigma) that fit is used, else the fit runs
again. The packaged hands are checked to be identical to the serial run's. This is the measurement behind the
decision not to overlap stages within a photo (README, Benchmarks).

Run: python benchmarks/photo_timeline.py [--devdata PATH] [--runs 3] [--init network|ik] [--overlap]
     [--switch-interval S] [--threads 2] [--src DIR]
"""

from __future__ import annotations

import os
import threading

_THREADS_AT_START = set(os.listdir("/proc/self/task")) if os.path.isdir("/proc/self/task") else set()

import argparse  # noqa: E402
import contextlib  # noqa: E402
import copy  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections import defaultdict  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

_THREADS_AFTER_NUMPY = set(os.listdir("/proc/self/task")) if _THREADS_AT_START else set()

import torch  # noqa: E402

# `--src DIR`: another source tree (e.g. /tmp/base_main/src), read before the package is imported
_SRC = sys.argv[sys.argv.index("--src") + 1] if "--src" in sys.argv[:-1] else None
sys.path.insert(0, _SRC or str(Path(__file__).resolve().parents[1] / "src"))

from _devdata import devdata_root  # noqa: E402

from handrecon.api import HandReconstructor  # noqa: E402
from handrecon.data.devdata import load_labelled  # noqa: E402
from handrecon.pipeline.config import PipelineConfig  # noqa: E402


class StageClock:
    """Wall and process CPU per labelled call, summed over the timed passes."""

    def __init__(self) -> None:
        self.totals: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0])
        self.order: list[str] = []

    def wrap(self, obj, name: str, label: str) -> None:
        """Time every call of `obj.name` (an instance attribute or bound method) under `label`."""
        fn = getattr(obj, name)
        if label not in self.order:
            self.order.append(label)

        def timed(*args, **kwargs):
            t0, c0 = time.perf_counter(), time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                row = self.totals[label]
                row[0] += time.perf_counter() - t0
                row[1] += time.process_time() - c0
                row[2] += 1

        setattr(obj, name, timed)

    def clear(self) -> None:
        self.totals.clear()


def thread_cpu_ticks() -> dict[str, int]:
    """CPU clock ticks (user + system) of each thread of this process, by thread id (Linux)."""
    out = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[tid] = int(fields[11]) + int(fields[12])
    return out


def one_hand_photos(root: Path) -> list[np.ndarray]:
    """The photos of bench_reconstruct.py's speed figure."""
    from handrecon.io import load_image

    return [load_image(it.path).rgb for it in load_labelled(root) if it.dataset in ("onehand10k", "freihand")]


def instrument(rec: HandReconstructor, clock: StageClock) -> None:
    """Stage timers on the reconstructor's pipeline (thorough detector: each bundled model's runs)."""
    ir = rec.pipeline
    det = ir.detector
    clock.wrap(ir, "detect", "detector")
    models = []
    if hasattr(det, "verifier"):  # the thorough front end's interpreters
        models = [det.palms.model, det.verifier.model.model, det.body.detector.model, det.body.landmarks.model]
    for m in models:
        clock.wrap(m, "run", f"  {m.name} runs")
    clock.wrap(ir, "observations", "observations")
    if ir.initializer is not None:
        clock.wrap(ir, "initializer", "  landmark network")
    clock.wrap(ir.fitter, "fit", "fit")
    clock.wrap(ir, "package", "package")
    clock.wrap(ir, "_textures", "  texture")


def print_stages(clock: StageClock, photos: int, whole: tuple[list[float], list[float]]) -> None:
    wall, cpu = whole
    print(f"whole photo: wall median {1000 * statistics.median(wall):.1f} ms (mean {1000 * statistics.mean(wall):.1f}),"
          f" CPU mean {1000 * statistics.mean(cpu):.1f} ms")  # fmt: skip
    runs_wall = runs_cpu = 0.0
    for label in clock.order:
        w, c, n = clock.totals.get(label, [0.0, 0.0, 0])
        if label.endswith(" runs"):
            runs_wall, runs_cpu = runs_wall + w, runs_cpu + c
        per = (1000 * w / photos, 1000 * c / photos, n / photos)
        print(f"  {label:28s} wall {per[0]:6.1f}  CPU {per[1]:6.1f}  calls/photo {per[2]:.2f}")
        if label == "  pose_landmark runs":
            dw, dc, _ = clock.totals.get("detector", [0.0, 0.0, 0])
            print(f"  {'  detector, rest (Python)':28s} wall {1000 * (dw - runs_wall) / photos:6.1f}  "
                  f"CPU {1000 * (dc - runs_cpu) / photos:6.1f}")  # fmt: skip


def print_threads(before: dict[str, int], after: dict[str, int], born: dict[str, str], photos: int) -> None:
    tick_ms = 1000 / os.sysconf("SC_CLK_TCK")
    main = str(threading.get_native_id())
    print("CPU per thread (ms per photo; thread: when it appeared):")
    for tid, ticks in sorted(after.items(), key=lambda kv: -(kv[1] - before.get(kv[0], 0))):
        used = (ticks - before.get(tid, 0)) * tick_ms / photos
        if used > 0:
            what = "the calling thread" if tid == main else born.get(tid, "during the timed passes")
            print(f"  {tid:>8s}  {used:6.1f}  {what}")


def fit_inputs_equal(a, b) -> bool:
    """Same fit inputs: side, keypoints, world landmarks and sigma of every hand, in order."""
    if len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):
        if x.handedness != y.handedness:
            return False
        if not all(np.array_equal(getattr(x, f), getattr(y, f)) for f in ("keypoints", "world", "sigma")):
            return False
    return True


class OverlappedFit:
    """The experiment of `--overlap`: the fit of the first verification's hands on a worker thread while the
    thorough detector goes on (see the module notes). Uses the pipeline's internals; checked, not shipped."""

    def __init__(self, rec: HandReconstructor) -> None:
        from handrecon.detect.verify import assign_handedness

        self.ir = rec.pipeline
        self.det = self.ir.detector
        self.pool = ThreadPoolExecutor(1)
        self.hits = self.misses = 0
        self._assign = assign_handedness
        self._on_first = None
        verifier = self.det.verifier
        outer = self

        class FirstCall:  # the detector's verifier, reporting its first call of a photo
            def __getattr__(self, name):
                return getattr(verifier, name)

            def __call__(self, rgb, proposals, known=None):
                hands = verifier(rgb, proposals, known)
                if outer._on_first is not None:
                    callback, outer._on_first = outer._on_first, None
                    callback(hands)
                return hands

        self.det.verifier = FirstCall()

    def _candidates(self, hands):
        """The detections the detector would return if nothing after the first verification changed them."""
        hs = [copy.copy(h) for h in hands]
        self._assign(hs, [])
        hs.sort(key=lambda h: -h.presence)
        if self.det.max_hands is not None:
            hs = hs[: self.det.max_hands]
        return self.ir.with_sigma([self.det._detection(h) for h in hs])

    def _fit(self, dets, K):
        from handrecon.fit.torch_threads import single_torch_thread

        with single_torch_thread():
            obs, starts = self.ir._observations(dets, K, None)
            return self.ir.fitter.fit(obs, K, starts, None), self.ir._initial_records

    def __call__(self, rgb: np.ndarray, K: torch.Tensor):
        try:  # the pipeline's own limits for a call (BLAS and OpenCV at one thread), where the tree has them
            from handrecon.pipeline.native_threads import single_threaded_pools_for_a_call
        except ImportError:
            single_threaded_pools_for_a_call = contextlib.nullcontext
        with single_threaded_pools_for_a_call():
            return self._call(rgb, K)

    def _call(self, rgb: np.ndarray, K: torch.Tensor):
        from handrecon.fit.torch_threads import single_torch_thread

        ir, job = self.ir, {}

        def start(hands):
            if hands and max(rgb.shape[:2]) <= ir.config.detection_max_side:
                job["dets"] = self._candidates(hands)
                job["future"] = self.pool.submit(self._fit, job["dets"], K)

        self._on_first = start
        try:
            dets = ir.detect(rgb)
        finally:
            self._on_first = None
            done = job["future"].result() if "future" in job else None  # never two fits at once
        if not dets:
            return []
        with single_torch_thread():
            if done is not None and fit_inputs_equal(job["dets"], dets):
                fits, ir._initial_records = done
                self.hits += 1
            else:
                self.misses += 1
                obs, starts = ir.observations(dets, K, None)
                fits = ir.fitter.fit(obs, K, starts, None)
            hands = ir.package(rgb, dets, fits, K, ir.config.texture)
        for h, record in zip(hands, ir._initial_records, strict=True):
            h.initial = record
        return hands


def same_hands(a, b) -> bool:
    fields = ("joints_3d", "joints_2d", "vertices", "texture", "vertex_colors", "transl")
    return len(a) == len(b) and all(
        all(np.array_equal(getattr(x, f), getattr(y, f)) for f in fields) for x, y in zip(a, b, strict=True)
    )


def overlap_experiment(rec: HandReconstructor, images, Ks, runs: int) -> None:
    overlapped = OverlappedFit(rec)
    serial = rec.pipeline
    variants = {"serial": serial, "overlapped fit": overlapped}
    for rgb, K in zip(images, Ks, strict=True):  # warm-up, and the same hands
        if not same_hands(serial(rgb, K), overlapped(rgb, K)):
            raise SystemExit("overlapped fit: hands differ from the serial run's")
    overlapped.hits = overlapped.misses = 0
    wall, cpu = defaultdict(list), defaultdict(list)
    for r in range(runs):
        for rgb, K in zip(images, Ks, strict=True):
            for name in (list(variants) if r % 2 == 0 else list(variants)[::-1]):
                t0, c0 = time.perf_counter(), time.process_time()
                variants[name](rgb, K)
                wall[name].append(time.perf_counter() - t0)
                cpu[name].append(time.process_time() - c0)
    print(f"\n== overlap experiment ({len(images)} photos x {runs} passes, switch interval "
          f"{sys.getswitchinterval() * 1000:g} ms): identical hands; first verification's hands kept by the detector "
          f"on {overlapped.hits} of {overlapped.hits + overlapped.misses} photos with hands")  # fmt: skip
    for name in variants:
        print(f"  {name:15s} wall median {1000 * statistics.median(wall[name]):6.1f} ms, "
              f"CPU mean {1000 * statistics.mean(cpu[name]):6.1f} ms")  # fmt: skip
    ratio = [o / s for o, s in zip(wall["overlapped fit"], wall["serial"], strict=True)]
    print(f"  overlapped / serial: per-photo wall ratio median {statistics.median(ratio):.3f}, ratio of medians "
          f"{statistics.median(wall['overlapped fit']) / statistics.median(wall['serial']):.3f}")  # fmt: skip
    overlapped.pool.shutdown()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--devdata", type=Path, default=None)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2, help="torch threads of the caller (bench_reconstruct: 2)")
    ap.add_argument("--init", default="network", choices=["ik", "network"])
    ap.add_argument("--detector", default="thorough", choices=["thorough", "fast"])
    ap.add_argument("--overlap", action="store_true", help="also the overlapped-fit experiment (module notes)")
    ap.add_argument("--switch-interval", type=float, default=None, help="sys.setswitchinterval for the experiment")
    ap.add_argument("--src", default=None, help="run another source tree's pipeline (e.g. /tmp/base_main/src)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    root = devdata_root(args.devdata)
    if root is None:
        return
    images = one_hand_photos(root)
    before_build = set(os.listdir("/proc/self/task")) if _THREADS_AT_START else set()
    rec = HandReconstructor(detector=args.detector, config=PipelineConfig(init=args.init))
    Ks = [rec.intrinsics(im.shape[1], im.shape[0])[0] for im in images]
    clock = StageClock()
    instrument(rec, clock)
    for rgb, K in zip(images, Ks, strict=True):  # warm-up: interpreters, tables, thread pools
        rec.pipeline(rgb, K)
    clock.clear()
    born: dict[str, str] = {}
    if _THREADS_AT_START:
        for tid in os.listdir("/proc/self/task"):
            if tid in _THREADS_AT_START:
                continue
            if tid in _THREADS_AFTER_NUMPY:
                born[tid] = "NumPy's import (OpenBLAS worker)"
            elif tid in before_build:
                born[tid] = "torch's import"
            else:
                born[tid] = "building the reconstructor or the first photo (interpreter pools, OpenMP)"
    ticks0 = thread_cpu_ticks() if _THREADS_AT_START else {}
    wall, cpu = [], []
    for _ in range(args.runs):
        for rgb, K in zip(images, Ks, strict=True):
            t0, c0 = time.perf_counter(), time.process_time()
            rec.pipeline(rgb, K)
            wall.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
    photos = args.runs * len(images)
    import handrecon

    print(f"source {Path(handrecon.__file__).parent.parent}")
    print(f"{len(images)} one-hand photos x {args.runs} passes, detector {args.detector}, init {args.init}, "
          f"torch threads {args.threads}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")  # fmt: skip
    print_stages(clock, photos, (wall, cpu))
    if ticks0:
        print_threads(ticks0, thread_cpu_ticks(), born, photos)
    if args.overlap:
        if args.switch_interval is not None:
            sys.setswitchinterval(args.switch_interval)
        overlap_experiment(rec, images, Ks, args.runs)


if __name__ == "__main__":
    main()
