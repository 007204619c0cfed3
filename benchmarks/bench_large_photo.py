"""Peak memory and time of `handrecon reconstruct` on a very large photo (default 12000 x 8000, 96 MP).

The photo is made here: the bundled sample hand scaled up to fill most of the frame, on a textured
background, saved as a JPEG (quality 90). Each run is a fresh process; its peak resident memory comes
from the kernel (wait4's ru_maxrss). With --ref-src, the same runs use another checkout's `src/` folder
(e.g. `git archive main src | tar -x -C /tmp/ref`), side by side.

Run: python benchmarks/bench_large_photo.py [--width 12000 --height 8000] [--runs 2] [--ref-src /tmp/ref/src]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path

import numpy as np
from PIL import Image


def make_photo(path: Path, width: int, height: int) -> Path:
    with resources.as_file(resources.files("handrecon.assets") / "demo_hand.jpg") as p:
        hand = Image.open(p).convert("RGB")
    side = int(0.9 * min(width, height))
    hand = hand.resize((side, side), Image.Resampling.BICUBIC)
    rng = np.random.default_rng(0)
    small = rng.integers(60, 200, size=(height // 64 + 1, width // 64 + 1, 3), dtype=np.uint8)
    canvas = Image.fromarray(small).resize((width, height), Image.Resampling.BILINEAR)
    canvas.paste(hand, ((width - side) // 2, (height - side) // 2))
    canvas.save(path, quality=90)
    return path


def run_once(photo: Path, out: Path, src: str | None, extra: list[str]) -> tuple[float, float, int]:
    """(peak resident MB, seconds, exit status) of one reconstruct process."""
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [sys.executable, "-m", "handrecon.cli", "reconstruct", str(photo), "--out", str(out), "-q", *extra]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.returncode not in (0,):
        print(f"    exit {proc.returncode}: {err.strip().splitlines()[-1:]}")
    return usage.ru_maxrss / 1024, seconds, proc.returncode


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--width", type=int, default=12000)
    ap.add_argument("--height", type=int, default=8000)
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--ref-src", help="another checkout's src/ folder, measured side by side")
    ap.add_argument("--no-overlay", action="store_true")
    args = ap.parse_args()
    extra = ["--no-overlay"] if args.no_overlay else []
    with tempfile.TemporaryDirectory() as tmp:
        photo = make_photo(Path(tmp) / "large.jpg", args.width, args.height)
        mp = args.width * args.height / 1e6
        print(f"photo: {args.width}x{args.height} ({mp:.0f} MP), {photo.stat().st_size / 1e6:.1f} MB JPEG"
              f"{' (--no-overlay)' if extra else ''}")  # fmt: skip
        versions = [("this checkout", None)] + ([("reference", args.ref_src)] if args.ref_src else [])
        for label, src in versions:
            peaks, secs = [], []
            for k in range(args.runs):
                peak, s, code = run_once(photo, Path(tmp) / f"out_{label[:4]}_{k}", src, extra)
                peaks.append(peak)
                secs.append(s)
            print(f"{label:>14}: peak memory median {statistics.median(peaks):.0f} MB (runs: "
                  f"{', '.join(f'{p:.0f}' for p in peaks)}), time median {statistics.median(secs):.1f} s")  # fmt: skip


if __name__ == "__main__":
    main()
