"""Where the wall time of one folder run goes: a timeline of every process of `handrecon reconstruct DIR`
(the command, multiprocessing's resource tracker, the `--workers` fork server, each worker).

The folder is `bench_throughput.py`'s (`--count` 256x256 one-hand photos from the labelled dev photos).
The command runs with a tracer on its PYTHONPATH (a `sitecustomize` written to a temporary folder: the
project is not changed) that logs, per process, wall time, process CPU and thread CPU at: the interpreter's
start, the imports of the heavy modules (torch, numpy, SciPy's sparse package, OpenCV, LiteRT, the
pipeline), a fork, a worker's start (`batch._worker_start`), each photo (`batch._worker_process`), each
background write (`batch._write_and_report`), the parent's detection while the workers start
(`batch._detect_while_starting`, with how many photos it detected), each outcome reaching the command, and
`atexit`. This process waits for the command, then (as Linux's child subreaper) for every process the
command left behind, so the end of the run is when the last of them exits, as for a caller that reads the
command's output.

Printed: per process its events (photos and writes summarised: first photo, median of the others), and
when the command and each orphan exited. Times in s from the start of the command.

Run: python benchmarks/folder_timeline.py [--devdata PATH] [--count 60] [--src DIR] -- [reconstruct options]
e.g. `-- --workers 2`, `-- --workers 2 --no-overlay --no-texture --formats ''`; `--src` runs another
source tree (e.g. /tmp/base_main/src).
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

TRACER = r'''
import os, sys, time, resource, threading, functools, importlib.abc
_LOG = os.path.join(os.environ["HANDRECON_TIMELINE_DIR"], "events.log")

def _cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime

def ev(name):
    line = (f"{time.time():.4f} {os.getpid()} {_cpu():.3f} {time.thread_time():.3f} "
            f"{threading.current_thread().name.replace(' ', '_')} {name}\n")
    fd = os.open(_LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.write(fd, line.encode())
    os.close(fd)

def _started():
    stat = open("/proc/self/stat").read().rsplit(")", 1)[1].split()
    boot = next(int(x.split()[1]) for x in open("/proc/stat") if x.startswith("btime"))
    return boot + int(stat[19]) / os.sysconf("SC_CLK_TCK")

try:
    ev(f"process_start {_started():.3f} {' '.join(sys.argv)[:60]!r}")
except OSError:
    ev("process_start")
os.register_at_fork(after_in_child=lambda: ev("forked"))

def _wrap(module, name, label):
    f = getattr(module, name)
    @functools.wraps(f)  # the same qualified name: still picklable by reference
    def w(*a, **k):
        tag = label(a) if callable(label) else label
        ev(f"begin {tag}")
        try:
            return f(*a, **k)
        finally:
            ev(f"end {tag}")
    setattr(module, name, w)

def _batch(m):
    _wrap(m, "_worker_start", "worker_start")
    _wrap(m, "_worker_process", lambda a: f"photo {a[0]}")
    _wrap(m, "_write_and_report", "write")
    detect = getattr(m, "_detect_while_starting", None)  # the parent's detection while the workers start
    if detect is not None:
        def traced_detect(job, inputs, todo, detected, stop):
            ev("begin parent_detection")
            try:
                return detect(job, inputs, todo, detected, stop)
            finally:
                ev(f"end parent_detection: {len(detected)} photo(s) detected")
        m._detect_while_starting = traced_detect
    run_pool = m.run_pool
    @functools.wraps(run_pool)
    def traced_pool(*a, **k):
        ev("pool_start")
        for o in run_pool(*a, **k):
            ev(f"outcome {o.index}")
            yield o
        ev("pool_done")
    m.run_pool = traced_pool

WATCH = {"numpy", "torch", "scipy.sparse", "cv2", "ai_edge_litert.interpreter", "tqdm", "handrecon.io",
         "handrecon.pipeline.batch", "handrecon.pipeline.image", "handrecon.pipeline.outputs",
         "handrecon.detect.multi_source", "handrecon.api", "handrecon.pipeline.fork_server_prototype",
         "handrecon.pipeline.fork_server_exit"}
AFTER = {"handrecon.pipeline.batch": _batch}

class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name not in WATCH:
            return None
        for finder in sys.meta_path:
            if finder is not self and hasattr(finder, "find_spec"):
                spec = finder.find_spec(name, path, target)
                if spec is not None:
                    break
        else:
            return None
        run = spec.loader.exec_module
        def exec_module(module):
            ev(f"import {name}")
            run(module)
            ev(f"imported {name}")
            if name in AFTER:
                AFTER[name](module)
        spec.loader.exec_module = exec_module
        return spec

sys.meta_path.insert(0, _Finder())
'''


def run_traced(cmd: list[str], env: dict, log_dir: Path) -> tuple[float, float, list[tuple[int, float]], int]:
    """(start, exit of the command, [(orphan pid, its exit)], status), times from `time.time()`."""
    ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER: orphans come to us
    with open(log_dir / "stderr.txt", "w") as err:
        t0 = time.time()
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=err)
        status = proc.wait()
        t_cmd = time.time()
    orphans = []
    while True:
        try:
            pid, _ = os.waitpid(-1, 0)
        except ChildProcessError:
            break
        orphans.append((pid, time.time()))
    return t0, t_cmd, orphans, status


def summarise(log: Path, t0: float) -> None:
    by_pid: dict[str, list[tuple[float, float, float, str, str]]] = defaultdict(list)
    for line in log.read_text().splitlines():
        t, pid, cpu, tcpu, thread, name = line.split(" ", 5)
        by_pid[pid].append((float(t) - t0, float(cpu), float(tcpu), thread, name))
    for pid, events in by_pid.items():
        print(f"process {pid}: CPU {events[-1][1]:.2f} s at its last event ({events[-1][0]:.2f})")
        photos = {n.split()[-1]: [] for _, _, _, _, n in events if n.startswith("begin photo")}
        writes = []
        for t, cpu, tcpu, thread, name in events:
            kind = name.split()[0]
            if kind in ("begin", "end") and name.split()[1] in ("photo", "write"):
                if name.split()[1] == "photo":
                    photos[name.split()[2]].append((t, cpu))
                else:
                    writes.append((t, tcpu))
                continue
            if kind == "outcome":
                continue
            print(f"  {t:7.2f}  cpu {cpu:6.2f}  {thread[:16]:16} {name[:100]}")
        if photos:
            done = [(i, v) for i, v in photos.items() if len(v) == 2]
            wall = [v[1][0] - v[0][0] for _, v in done]
            cpu = [v[1][1] - v[0][1] for _, v in done]
            if done:  # first, second, median of the rest: as many of them as there are photos
                parts = [f"first {done[0][0]}: {wall[0]:.2f} s wall, {cpu[0]:.2f} s CPU"]
                if len(done) > 1:
                    parts.append(f"second: {wall[1]:.2f} s, {cpu[1]:.2f} s")
                if len(done) > 2:
                    parts.append(f"median of the rest: {statistics.median(wall[2:]):.2f} s wall, "
                                 f"{1000 * statistics.median(cpu[2:]):.0f} ms CPU")  # fmt: skip
                print(f"  photos: {len(done)}; {'; '.join(parts)}; last ends {done[-1][1][1][0]:.2f}")
        if len(writes) >= 2:
            pairs = list(zip(writes[::2], writes[1::2], strict=False))
            print(f"  background writes: {len(pairs)}; median {statistics.median(e[0] - b[0] for b, e in pairs):.2f} s "
                  f"wall, {1000 * statistics.median(e[1] - b[1] for b, e in pairs):.0f} ms thread CPU; last ends "
                  f"{pairs[-1][1][0]:.2f}")  # fmt: skip
        outcomes = [t for t, *_, n in events if n.startswith("outcome")]
        if outcomes:
            print(f"  outcomes: {len(outcomes)}, first {outcomes[0]:.2f}, last {outcomes[-1]:.2f}")


def main() -> None:
    if not sys.platform.startswith("linux"):
        print("the timeline needs Linux (/proc, a child subreaper)")
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--devdata", type=Path, default=None)
    ap.add_argument("--count", type=int, default=60)
    ap.add_argument("--src", type=Path, default=None, help="a `src` folder to run instead of the installed package")
    ap.add_argument("options", nargs="*", help="options of `handrecon reconstruct` (after --)")
    args = ap.parse_args()

    from _devdata import devdata_root
    from bench_throughput import make_folder

    root = devdata_root(args.devdata)
    if root is None:
        return
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        make_folder(root, tmp / "photos", args.count)
        (tmp / "tracer").mkdir()
        (tmp / "tracer" / "sitecustomize.py").write_text(TRACER)
        path = [str(tmp / "tracer"), *([str(args.src.resolve())] if args.src else []), os.environ.get("PYTHONPATH", "")]
        env = dict(os.environ, PYTHONWARNINGS="ignore", HANDRECON_TIMELINE_DIR=str(tmp))
        env["PYTHONPATH"] = os.pathsep.join(path)
        cmd = [sys.executable, "-m", "handrecon.cli", "reconstruct", str(tmp / "photos"), "-q", "--out",
               str(tmp / "out"), *args.options]  # fmt: skip
        print(f"load average at start: {os.getloadavg()[0]:.1f}; {' '.join(cmd[3:4] + args.options)}")
        t0, t_cmd, orphans, status = run_traced(cmd, env, tmp)
        if status not in (0, 1):
            print((tmp / "stderr.txt").read_text()[-2000:])
            raise SystemExit(f"the command failed ({status})")
        summarise(tmp / "events.log", t0)
        print(f"command exited at {t_cmd - t0:.2f} s (status {status}); "
              + ", ".join(f"process {pid} at {t - t0:.2f} s" for pid, t in orphans)
              + f"; load average at end: {os.getloadavg()[0]:.1f}")  # fmt: skip
        print(json.dumps({"wall_s": round(max([t_cmd, *(t for _, t in orphans)]) - t0, 3)}))


if __name__ == "__main__":
    main()
