"""Throughput of `handrecon reconstruct` on a folder, as a new user runs it: the wall time of the whole
command (start-up included) against a plain Python loop over MediaPipe Hands (its import included), side by
side in one run, the runs interleaved, medians and ratios.

The folder: `--count` 256x256 single-hand photos made at run time in a temporary folder (never in the
project) from the labelled single-hand dev photos (../shared/devdata: FreiHAND, OneHand10K, and the
one-hand InterHand/Panoptic images): each a square crop around the labelled hand with a margin that varies
from copy to copy (and every second copy mirrored), resized to 256x256, saved as JPEG.

Variants: default outputs; JSON only (`--no-overlay --no-texture --formats ''`), each with `--workers 1`
and `--workers N` when the command has that option (`--folder-outputs json` runs JSON only). Also:
start-up (`reconstruct --help`, one photo), the JSON-only path's CPU per photo by stage for each detector
(`stages`, with what the 1.5x target leaves per photo) and the video mode's frame rate at 640x480 (one hand,
in this process).

Run: python benchmarks/bench_throughput.py [--runs 3] [--count 60] [--workers 2] [--skip video]
"""

# ruff: noqa: B023  (output_costs times lambdas that are called at once, inside their loop turn)
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

PLAIN_LOOP = """
import sys, time
from pathlib import Path
import numpy as np
from PIL import Image
import mediapipe as mp
hands = mp.solutions.hands.Hands(static_image_mode=True, max_num_hands=2, min_detection_confidence=0.5)
found = 0
for p in sorted(Path(sys.argv[1]).glob("*.jpg")):
    r = hands.process(np.asarray(Image.open(p).convert("RGB")))
    found += bool(r.multi_hand_landmarks)
print(found)
"""


def make_folder(root: Path, folder: Path, count: int) -> int:
    """`count` 256x256 one-hand photos in `folder`; returns how many distinct source photos were used."""
    from PIL import Image

    from handrecon.data.devdata import load_labelled

    sources = [it for it in load_labelled(root) if len(it.hands) == 1]
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(count):
        item = sources[i % len(sources)]
        im = Image.open(item.path).convert("RGB")
        kp = item.hands[0].keypoints[item.hands[0].visible]
        lo, hi = kp.min(0), kp.max(0)
        centre = (lo + hi) / 2 + rng.uniform(-0.08, 0.08, 2) * (hi - lo).max()
        half = (hi - lo).max() * rng.uniform(0.75, 1.1)
        box = tuple(int(round(v)) for v in (*(centre - half), *(centre + half)))
        crop = im.crop(box).resize((256, 256), Image.BILINEAR)  # outside the photo: black border
        if i % 2:
            crop = crop.transpose(Image.FLIP_LEFT_RIGHT)
        crop.save(folder / f"hand_{i:03d}.jpg", quality=92)
    return len(sources)


def adopt_orphans() -> bool:
    """Linux: descendants orphaned by a command (its multiprocessing fork server and the workers that
    server forked) become this process's children, so that `timed` can wait for them and count their
    CPU. False where the platform cannot."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    PR_SET_CHILD_SUBREAPER = 36
    return ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0


def _children_cpu() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _reap_orphans() -> None:
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return


def timed(cmd: list[str], env: dict) -> tuple[float, str, float]:
    """Wall seconds, output, CPU seconds of the command and every process it started (those it left
    behind included when `adopt_orphans` worked; they have exited before this returns)."""
    c0 = _children_cpu()
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    dt = time.perf_counter() - t0
    _reap_orphans()
    if r.returncode not in (0, 1):  # 1: some photo had no hand found, still a finished run
        raise RuntimeError(f"{cmd} failed ({r.returncode}): {r.stderr[-2000:]}")
    return dt, r.stdout + r.stderr, _children_cpu() - c0


def has_workers_option(env: dict) -> bool:
    """Whether the command run with `env` has --workers (a baseline source tree may not)."""
    r = subprocess.run([sys.executable, "-m", "handrecon.cli", "reconstruct", "--help"], capture_output=True,
                       text=True, env=env)  # fmt: skip
    return "--workers" in r.stdout


VIDEO_RUN = """
import time
t0 = time.perf_counter()
import resource, sys, torch
from pathlib import Path
from handrecon.api import HandReconstructor
from handrecon.io.native_stderr import silence_native_stderr
from handrecon.pipeline.video import reconstruct_video_file
silence_native_stderr()  # as the command line does
torch.set_num_threads(1)
rec = HandReconstructor()
def used():  # this process's threads and its finished children (the overlay process)
    who = (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    return sum(r.ru_utime + r.ru_stime for r in map(resource.getrusage, who))
c0 = used()
t1 = time.perf_counter()
s = reconstruct_video_file(rec, Path(sys.argv[1]), Path(sys.argv[2]), overlay=True, progress=False)
t2 = time.perf_counter()
cpu = used() - c0
# frames/s on the frame clock, hands, CPU per frame (from the call on), imports + models (s), the call's set-up
# before its frame clock (s)
print(s.frames / s.seconds, s.frames_with_hands, 1000 * cpu / s.frames, t1 - t0, t2 - t1 - s.seconds)
"""


def video_fps(root: Path, envs: dict[str, dict], runs: int, seconds: int = 3) -> None:
    """Frames/s of the video mode (JSON per frame + MP4 overlay, models loaded before the clock starts) on a
    640x480 clip of a moving one-hand photo, each source tree in its own process, runs interleaved with the
    order alternating per round (the first run of a round meets another load than the second). Besides the
    frame clock (from the first frame read to the last file written): the set-up before it (the video's
    detector graphs, the overlay process) and the whole command's wall time (imports and models included),
    the time a user waits."""
    import cv2

    src = cv2.imread(str(root / "labeled" / "onehand10k" / "784.jpg"))
    if src is None:
        print("video: sample photo missing")
        return
    frame = cv2.resize(src, (640, 480))
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "clip.mp4"
        writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"mp4v"), 30, (640, 480))
        for i in range(30 * seconds):
            M = np.float32([[1, 0, 12 * np.sin(i / 10)], [0, 1, 6 * np.cos(i / 13)]])
            writer.write(cv2.warpAffine(frame, M, (640, 480), borderMode=cv2.BORDER_REPLICATE))
        writer.release()
        fields_of: dict[str, list[list[float]]] = {tag: [] for tag in envs}
        walls: dict[str, list[float]] = {tag: [] for tag in envs}
        for r in range(runs):
            order = list(envs.items()) if r % 2 == 0 else list(envs.items())[::-1]
            for tag, e in order:
                wall, out, _ = timed([sys.executable, "-c", VIDEO_RUN, str(clip), str(Path(tmp) / f"v{r}{tag}")], e)
                fields_of[tag].append([float(x) for x in out.split()[:5]])  # stdout comes first
                walls[tag].append(wall)
    frames = 30 * seconds
    for tag, rows in fields_of.items():
        fps = [row[0] for row in rows]
        line = f"{tag}video 640x480, {frames} frames, one hand, JSON + MP4 overlay: "
        line += f"{statistics.median(fps):.1f} frames/s "
        line += f"(median of {runs}: {', '.join(f'{x:.1f}' for x in fps)})"
        if all(len(row) > 2 for row in rows):
            line += f", {statistics.median(row[2] for row in rows):.0f} ms CPU per frame (threads, children)"
        print(line)
        if all(len(row) > 4 for row in rows):
            setup = statistics.median(row[4] for row in rows)
            models = statistics.median(row[3] for row in rows)
            wall = statistics.median(walls[tag])
            # the interpreter's start and exit: the whole command less what the runner timed
            timed_parts = [w - row[3] - row[4] - frames / row[0] for w, row in zip(walls[tag], rows, strict=True)]
            rest = statistics.median(timed_parts)
            print(f"{tag}  set-up before the frame clock {setup:.2f} s, imports + models {models:.2f} s, interpreter "
                  f"start + exit {rest:.2f} s; whole command {wall:.2f} s = {frames / wall:.1f} frames per second of "
                  "the user's wait")  # fmt: skip
    if len(fields_of) == 2:
        a, b = (list(v) for v in fields_of.values())
        ratios = [x[0] / y[0] for x, y in zip(a, b, strict=True)]
        print(f"video frames/s, this tree / baseline, per interleaved round: {', '.join(f'{x:.2f}' for x in ratios)}")
        wa, wb = walls.values()
        speedups = ", ".join(f"{y / x:.2f}" for x, y in zip(wa, wb, strict=True))
        print(f"video whole command, baseline / this tree (speed-up), per interleaved round: {speedups}")


def output_costs(folder: Path, limit: int = 20) -> tuple[dict[str, list[float]], dict[str, list[float]], dict]:
    """Per image, in this process: what each step and output costs (wall and CPU ms of this thread per
    photo, over the folder's first photos), with one torch thread as the command uses. The fit is timed
    again on the same inputs with one and with two torch threads: a repeat finds set-up work done and caches
    warm, so compare the two repeats. Returns (wall, cpu, images for `png_settings`)."""
    import torch

    torch.set_num_threads(1)

    from handrecon.api import HandReconstructor
    from handrecon.io import (
        png_bytes,
        save_npz_atomic,
        save_png_atomic,
        write_glb,
        write_json_atomic,
        write_obj,
        write_ply,
    )
    from handrecon.pipeline import outputs
    from handrecon.pipeline.outputs import image_record, overlay_image, side_image, write_image_outputs

    together = getattr(outputs, "overlay_and_side_images", None)  # not in earlier versions
    rec = HandReconstructor()
    paths = sorted(folder.glob("*.jpg"))[:limit]
    costs: dict[str, list[float]] = {}
    cpu: dict[str, list[float]] = {}
    images: dict[str, list[np.ndarray]] = {"overlay": [], "side view": [], "texture": []}

    def clock(name, fn):
        c0, t0 = time.thread_time(), time.perf_counter()
        out = fn()
        costs.setdefault(name, []).append((time.perf_counter() - t0) * 1000)
        cpu.setdefault(name, []).append((time.thread_time() - c0) * 1000)
        return out

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        for p in paths:
            rgb, K, _ = clock("load + camera", lambda p=p: rec.load(p))
            dets = clock("detect", lambda: rec.pipeline.detect(rgb))
            if not dets:
                continue
            obs, ik = clock("observations + IK", lambda: rec.pipeline.observations(dets, K))
            fits = clock("fit", lambda: rec.pipeline.fitter.fit(obs, K, ik, None))
            clock("fit repeated, 1 thread", lambda: rec.pipeline.fitter.fit(obs, K, ik, None))
            torch.set_num_threads(2)
            clock("fit repeated, 2 threads", lambda: rec.pipeline.fitter.fit(obs, K, ik, None))
            torch.set_num_threads(1)
            clock("package (no texture)", lambda: rec.pipeline.package(rgb, dets, fits, K, False))
            hands = clock("package + texture", lambda: rec.pipeline.package(rgb, dets, fits, K, True))
            h, Kn = hands[0], K.numpy()
            ov = clock("overlay render", lambda: overlay_image(rgb, hands, Kn))
            clock("overlay PNG write", lambda: save_png_atomic(out / "o.png", ov))
            sv = clock("side view render", lambda: side_image(hands, Kn, rgb.shape[1], rgb.shape[0]))
            clock("side view PNG write", lambda: save_png_atomic(out / "s.png", sv))
            if together is not None:  # what write_image_outputs draws: both from one batched rasterization
                clock("overlay + side view, together", lambda: together(rgb, hands, Kn))
            # the texture is encoded once per hand and given to both the OBJ and the GLB writer
            tex = clock("texture PNG encode", lambda: png_bytes(h.texture))
            clock("OBJ + MTL + texture file", lambda: write_obj(out / "m.obj", h.vertices, h.faces, uv=h.uv,
                                                                faces_uv=h.faces_uv, texture=tex))  # fmt: skip
            clock("PLY", lambda: write_ply(out / "m.ply", h.vertices, h.faces, vertex_colors=h.vertex_colors))
            clock("GLB", lambda: write_glb(out / "m.glb", h.vertices, h.faces, uv=h.uv, faces_uv=h.faces_uv,
                                           texture=tex))  # fmt: skip
            arrays = {"v": h.vertices, "f": h.faces, "j": h.joints_3d, "c": h.vertex_colors}
            clock("NPZ", lambda: save_npz_atomic(out / "a.npz", arrays))
            clock("JSON", lambda: write_json_atomic(out / "a.json", image_record("x", 256, 256, Kn, hands)))
            clock("all files (write_image_outputs)", lambda: write_image_outputs(out, "w", "x", rgb, hands, Kn))
            images["overlay"].append(ov)
            images["side view"].append(sv)
            images["texture"].append(h.texture)
    rec.close()
    return costs, cpu, images


def print_output_costs(runs: dict[str, list[tuple[dict, dict]]], photos: int) -> None:
    """Median ms per photo of each step (wall, and CPU of the measuring thread), per source tree; with two
    trees, side by side with their ratio (the median over the interleaved runs of each run's median)."""
    tags = list(runs)
    names = list(runs[tags[0]][0][0])

    def median_of(tag: str, name: str, which: int) -> float:
        per_run = [statistics.median(run[which][name]) for run in runs[tag] if name in run[which]]
        return statistics.median(per_run) if per_run else float("nan")  # a step an earlier version lacks: nan

    rounds = len(runs[tags[0]])
    print(f"\nper image, in process ({photos} photos, {rounds} run(s), median ms; CPU: the measuring thread's):")
    head = "".join(f" | {t.rstrip(': ') or 'this tree':>18}" for t in tags)
    print(f"  {'step':<32}{head}" + (" | this / baseline (wall, CPU)" if len(tags) == 2 else ""))
    for name in names:
        cells, ratio = [], ""
        for tag in tags:
            cells.append(f" | {median_of(tag, name, 0):7.1f} {median_of(tag, name, 1):7.1f} CPU")
        if len(tags) == 2 and name in runs[tags[1]][0][0]:
            rw = median_of(tags[0], name, 0) / max(1e-9, median_of(tags[1], name, 0))
            rc = median_of(tags[0], name, 1) / max(1e-9, median_of(tags[1], name, 1))
            ratio = f" | {rw:4.2f} {rc:4.2f}"
        print(f"  {name:<32}{''.join(cells)}{ratio}")


OUTPUTS_CHILD = """
import json, sys
sys.path.insert(0, sys.argv[1])
from bench_throughput import output_costs
from pathlib import Path
wall, cpu, _ = output_costs(Path(sys.argv[2]))
print("OUTPUT-COSTS " + json.dumps([wall, cpu]))
"""


def output_costs_side_by_side(folder: Path, envs: dict[str, dict], runs: int) -> None:
    """`output_costs` of each source tree in its own process (its `handrecon` from the env's PYTHONPATH),
    the trees alternating run by run; then this tree's PNG settings."""
    import json

    results: dict[str, list[tuple[dict, dict]]] = {tag: [] for tag in envs}
    here = str(Path(__file__).resolve().parent)
    for _ in range(runs):
        for tag, e in envs.items():
            _, out, _ = timed([sys.executable, "-c", OUTPUTS_CHILD, here, str(folder)], dict(e, OMP_NUM_THREADS="1"))
            line = next(ln for ln in out.splitlines() if ln.startswith("OUTPUT-COSTS "))
            wall, cpu = json.loads(line[len("OUTPUT-COSTS "):])
            results[tag].append((wall, cpu))
    print_output_costs(results, len(next(iter(results.values()))[0][0].get("detect", [])))
    png_settings(output_costs(folder, limit=8)[2])


JSON_STAGES = ("load + camera", "detect", "observations + IK", "fit", "package (no texture)", "files (JSON + NPZ)")


def json_stage_costs(folder: Path, detector: str, limit: int = 30) -> dict[str, list[float]]:
    """CPU ms of this process per photo (MediaPipe's graph threads included) for each stage of the JSON-only
    path (`--no-overlay --no-texture --formats ''`) with `detector`, one torch thread, over the folder's first
    photos (the first one left out: it builds the models' caches); and "MediaPipe Hands" for the plain loop's
    graph on the same photos (its `process` call alone, import and graph creation left out)."""
    import torch

    torch.set_num_threads(1)
    import mediapipe as mp
    from PIL import Image

    from handrecon.api import HandReconstructor
    from handrecon.pipeline.native_threads import single_threaded_native_pools
    from handrecon.pipeline.outputs import write_image_outputs

    rec = HandReconstructor(detector=detector, texture=False)
    hands_graph = mp.solutions.hands.Hands(static_image_mode=True, max_num_hands=2, min_detection_confidence=0.5)
    cpu: dict[str, list[float]] = {k: [] for k in (*JSON_STAGES, "all stages", "MediaPipe Hands")}
    with tempfile.TemporaryDirectory() as tmp, single_threaded_native_pools(load_opencv=True):
        for n, p in enumerate(sorted(folder.glob("*.jpg"))[:limit]):
            t = [time.process_time()]
            rgb, K, src = rec.load(p)
            t.append(time.process_time())
            dets = rec.pipeline.detect(rgb)
            t.append(time.process_time())
            if dets:
                obs, starts = rec.pipeline.observations(dets, K)
                t.append(time.process_time())
                fits = rec.pipeline.fitter.fit(obs, K, starts, None)
                t.append(time.process_time())
                hands = rec.pipeline.package(rgb, dets, fits, K, False)
                t.append(time.process_time())
                write_image_outputs(Path(tmp), p.stem, str(p), rgb, hands, K.numpy(), (), overlay=False,
                                    extra={"camera_source": src})  # fmt: skip
                t.append(time.process_time())
            c0 = time.process_time()
            hands_graph.process(np.asarray(Image.open(p).convert("RGB")))
            mp_ms = (time.process_time() - c0) * 1000
            if n == 0:
                continue
            cpu["MediaPipe Hands"].append(mp_ms)
            if len(t) == len(JSON_STAGES) + 1:  # a photo where the detector found a hand
                for name, a, b in zip(JSON_STAGES, t, t[1:], strict=False):
                    cpu[name].append((b - a) * 1000)
                cpu["all stages"].append((t[-1] - t[0]) * 1000)
    hands_graph.close()
    rec.close()
    return cpu


STAGES_CHILD = """
import json, sys
sys.path.insert(0, sys.argv[1])
from bench_throughput import json_stage_costs
from pathlib import Path
print("STAGE-COSTS " + json.dumps(json_stage_costs(Path(sys.argv[2]), sys.argv[3])))
"""


def json_stages(folder: Path, env: dict, detectors: list[str], loop_wall: float | None, photos: int, workers: int):
    """`json_stage_costs` of this tree per detector, each in its own process; then what the JSON-only
    target (<= 1.5x the MediaPipe loop's wall time) leaves per photo on `workers` cores."""
    import json

    here = str(Path(__file__).resolve().parent)
    rows: dict[str, dict[str, list[float]]] = {}
    for det in detectors:
        _, out, _ = timed([sys.executable, "-c", STAGES_CHILD, here, str(folder), det], dict(env, OMP_NUM_THREADS="1"))
        line = next(ln for ln in out.splitlines() if ln.startswith("STAGE-COSTS "))
        rows[det] = json.loads(line[len("STAGE-COSTS "):])
    print("\nJSON-only path, CPU ms per photo by stage (one process, one torch thread; median, mean):")
    for det, cpu in rows.items():
        cells = ", ".join(f"{k} {statistics.median(v):.1f} / {statistics.mean(v):.1f}" for k, v in cpu.items() if v)
        print(f"  --detector {det} ({len(cpu['all stages'])} photos with a hand): {cells}")
    if loop_wall is not None:
        budget = 1.5 * loop_wall * workers / photos * 1000
        print(f"  the target, 1.5x the MediaPipe loop's {loop_wall:.2f} s for {photos} photos on {workers} core(s): at "
              f"most {budget:.0f} ms of CPU per photo with every core busy from the command's start to its end, "
              "start-up (interpreters, imports, models) included")  # fmt: skip


def png_settings(images: dict[str, list[np.ndarray]], rounds: int = 3) -> None:
    """PNG encoding time (CPU of this thread, median of `rounds`) and mean file size per image of each
    kind, for zlib levels and strategies (Pillow); every setting is lossless."""
    import io
    import zlib

    from PIL import Image

    from handrecon.io.atomic import PNG_COMPRESS_LEVEL, PNG_STRATEGY

    def encode(a: np.ndarray, level: int, strategy: int) -> int:
        buf = io.BytesIO()
        Image.fromarray(a).save(buf, format="PNG", compress_level=level, compress_type=strategy)
        return len(buf.getvalue())

    settings = {"level 1": (1, zlib.Z_DEFAULT_STRATEGY), "level 1, run-length": (1, zlib.Z_RLE),
                "level 6 (Pillow's default)": (6, zlib.Z_DEFAULT_STRATEGY)}  # fmt: skip
    print(f"\nPNG settings, per image (CPU ms of the encoding, mean kB; written: level {PNG_COMPRESS_LEVEL}, "
          f"strategy {PNG_STRATEGY}):")  # fmt: skip
    for kind, arrays in images.items():
        for name, (level, strategy) in settings.items():
            ms = []
            for _ in range(rounds):
                t0 = time.thread_time()
                sizes = [encode(a, level, strategy) for a in arrays]
                ms.append((time.thread_time() - t0) * 1000 / max(1, len(arrays)))
            print(f"  {kind:<10} {name:<28} {statistics.median(ms):6.2f} ms {np.mean(sizes) / 1000:7.1f} kB")


def fsync_costs(folder: Path, runs: int = 5, photos: int = 10, files: int = 10, size: int = 60_000) -> None:
    """What the atomic writes' fsyncs cost per photo of `files` files in the output folder's file system:
    each file committed on its own (file + folder fsync, as before `atomic_group`), one group per photo
    (fsyncs back to back, one folder fsync), and no fsync at all (what the disk would allow at best)."""
    import handrecon.io.atomic as atomic

    data = os.urandom(size)

    def per_file(d: Path, k: int) -> None:
        for f in range(files):
            atomic.write_bytes_atomic(d / f"p{k}_{f}.bin", data)

    def grouped(d: Path, k: int) -> None:
        with atomic.atomic_group():
            per_file(d, k)

    def unsynced(d: Path, k: int) -> None:
        for f in range(files):
            tmp = atomic.reserve_temp(d / f"p{k}_{f}.bin")
            tmp.write_bytes(data)
            os.replace(tmp, d / f"p{k}_{f}.bin")

    ways = {"a commit per file": per_file, "one group per photo": grouped, "no fsync": unsynced}
    ms: dict[str, list[float]] = {k: [] for k in ways}
    for _ in range(runs):  # interleaved
        for name, fn in ways.items():
            with tempfile.TemporaryDirectory(dir=folder) as d:
                t0 = time.perf_counter()
                for k in range(photos):
                    fn(Path(d), k)
                ms[name].append((time.perf_counter() - t0) / photos * 1000)
    print(f"\natomic writes, {files} files of {size // 1000} kB per photo, in {folder} (median of {runs}):")
    for name, v in ms.items():
        print(f"  {name:<22} {statistics.median(v):6.1f} ms per photo  ({', '.join(f'{x:.0f}' for x in v)})")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--devdata", type=Path, default=None)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--count", type=int, default=60)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument(
        "--baseline-src", type=Path, default=None,
        help="a `src` folder of an earlier version (e.g. from `git archive`): its command runs side by side too",
    )  # fmt: skip
    ap.add_argument("--baseline-threads", type=int, default=1, help="OMP_NUM_THREADS of the baseline's runs")
    ap.add_argument(
        "--skip", nargs="*", default=[], choices=["startup", "folder", "outputs", "video", "fsync", "stages"]
    )
    ap.add_argument(
        "--folder-outputs", nargs="+", default=["default", "json"], choices=["default", "json"],
        help="the folder runs' outputs: default outputs and/or JSON only",
    )  # fmt: skip
    ap.add_argument("--video-seconds", type=int, default=3, help="length of the video clip at 30 frames/s")
    ap.add_argument("--output-runs", type=int, default=1, help="runs of the per-image costs per source tree")
    ap.add_argument("--detectors", nargs="+", default=["thorough", "fast"], help="detectors of this tree to run")
    args = ap.parse_args()

    from _devdata import devdata_root

    root = devdata_root(args.devdata)
    if root is None:
        return
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    print(f"load average at start: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        n_src = make_folder(root, tmp / "photos", args.count)
        print(f"folder: {args.count} photos 256x256 from {n_src} labelled one-hand dev photos (crops, mirrored)")
        cli = [sys.executable, "-m", "handrecon.cli", "reconstruct"]
        variants: dict[str, list[str]] = {
            "MediaPipe loop": [sys.executable, "-c", PLAIN_LOOP, str(tmp / "photos")],
        }
        envs = {"": env}
        if args.baseline_src is not None:
            base_path = os.pathsep.join([str(args.baseline_src.resolve()), env.get("PYTHONPATH", "")])
            # torch threads of the baseline: 1 by default, as the command now uses (with 2 on a loaded
            # 2-core machine its fits run many times slower; see the per-step costs below)
            envs["baseline: "] = dict(env, PYTHONPATH=base_path, OMP_NUM_THREADS=str(args.baseline_threads))
        envs_of: dict[str, dict] = {"MediaPipe loop": env}
        folder_runs: set[str] = set()
        for tag, e in envs.items():
            workers = has_workers_option(e)
            json_only = ["--no-overlay", "--no-texture", "--formats", ""]
            # the baseline tree runs its own default detector; this tree each of --detectors
            detectors = [None] if tag else [*args.detectors]
            kinds = {"default": ("default outputs", []), "json": ("JSON only", json_only)}
            for name, extra in (kinds[k] for k in args.folder_outputs):
                for det in detectors:
                    base = [*cli, str(tmp / "photos"), "-q", *extra, *([] if det is None else ["--detector", det])]
                    counts = [1, args.workers] if workers else [None]
                    for w in counts:
                        label = f"{tag}{name}" + ("" if det is None else f", {det}")
                        label += "" if w is None else f", {w} worker(s)"
                        opt = [] if w is None else ["--workers", str(w)]
                        variants[label] = [*base, *opt, "--out", str(tmp / f"o{len(variants)}")]
                        envs_of[label] = e
                        folder_runs.add(label)
        if "startup" not in args.skip:
            one = sorted((tmp / "photos").glob("*.jpg"))[0]
            for tag, e in envs.items():
                variants[f"{tag}reconstruct --help"] = [*cli, "--help"]
                variants[f"{tag}one photo, default outputs"] = [*cli, str(one), "-q", "--out", str(tmp / f"one{tag}")]
                envs_of[f"{tag}reconstruct --help"] = envs_of[f"{tag}one photo, default outputs"] = e
        if "folder" in args.skip:
            variants = {k: v for k, v in variants.items() if k not in folder_runs}
        times: dict[str, list[float]] = {k: [] for k in variants}
        cpus: dict[str, list[float]] = {k: [] for k in variants}
        counted = "all processes" if adopt_orphans() else "its own children only"
        for r in range(args.runs):  # interleaved: every variant once per round
            for name, cmd in variants.items():
                dt, _, cpu = timed(cmd, envs_of[name])
                times[name].append(dt)
                cpus[name].append(cpu)
            print(f"round {r + 1}/{args.runs} done, load {os.getloadavg()[0]:.1f}", flush=True)
        ref = statistics.median(times["MediaPipe loop"])
        print(f"\nwall time of the whole command, median of {args.runs} interleaved runs:")
        for name, ts in times.items():
            m = statistics.median(ts)
            spread = f"{min(ts):.2f}-{max(ts):.2f}"
            print(f"  {name:<34} {m:7.2f} s  ({spread})  {m / ref:5.2f}x the MediaPipe loop")
        print(f"\nCPU of the whole command ({counted}), median of {args.runs} runs, per photo:")
        for name, cs in cpus.items():
            if name in folder_runs or name == "MediaPipe loop":
                per = [1000 * c / args.count for c in cs]
                print(f"  {name:<34} {statistics.median(per):7.1f} ms  ({min(per):.1f}-{max(per):.1f})")
        print(f"load average at end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
        if "stages" not in args.skip:
            json_stages(tmp / "photos", env, args.detectors, ref, args.count, args.workers)
        if "outputs" not in args.skip:
            output_costs_side_by_side(tmp / "photos", envs, args.output_runs)
        if "fsync" not in args.skip:
            fsync_costs(tmp)
        if "video" not in args.skip:
            video_fps(root, envs, args.runs, args.video_seconds)


if __name__ == "__main__":
    main()
