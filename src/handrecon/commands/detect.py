"""`handrecon detect DIR --out OUT`: pseudo-labels of the user's photos and videos (2D keypoints, per-joint
sigma, side, box, image size, intrinsics guess) from the detector front end, in the form the `pseudo`
reader loads (`handrecon.data.pseudo`). Bad inputs are reported on one line each and skipped."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    from handrecon.commands.reconstruct import add_camera_arguments

    p.add_argument("inputs", nargs="+", type=Path, help="image or video files, or folders of them")
    p.add_argument("--out", "-o", type=Path, required=True, help="output folder (pseudo_labels.json, video frames)")
    p.add_argument("--max-hands", type=int, default=2, help="most hands per image (default: 2)")
    p.add_argument("--min-confidence", type=float, default=0.5, help="detector confidence threshold (default: 0.5)")
    p.add_argument("--tta", type=int, default=0, help="augmented detector passes for the sigma (default: 0)")
    p.add_argument("--video-stride", type=int, default=5, help="label every N-th video frame (default: 5)")
    add_camera_arguments(p)


def run(args: argparse.Namespace) -> int:
    from handrecon.commands.reconstruct import VIDEO_EXTS, collect_inputs
    from handrecon.data.pseudo import LABELS_FILE, DetectorSettings, FrontEnd, label_inputs

    out = args.out.resolve()
    # frames written by an earlier run into an output folder inside an input folder are not inputs
    inputs = [p for p in collect_inputs(args.inputs) if out not in p.resolve().parents]
    if not inputs:
        print("handrecon detect: no input files", file=sys.stderr)
        return 2
    if args.video_stride < 1:
        print("handrecon detect: --video-stride must be at least 1", file=sys.stderr)
        return 2
    failures: list[str] = []

    def report(line: str) -> None:
        failures.append(line)
        print(f"error: {line}", file=sys.stderr)

    front_end = FrontEnd(DetectorSettings(args.max_hands, args.min_confidence, args.tta))
    camera = {k: getattr(args, k) for k in ("fx", "fy", "cx", "cy", "fov")}
    try:
        doc = label_inputs(inputs, args.out, front_end, camera, args.video_stride, report, VIDEO_EXTS)
    finally:
        front_end.close()
    items = doc["items"]
    hands = sum(len(it["hands"]) for it in items)
    with_hands = sum(1 for it in items if it["hands"])
    print(
        f"{len(items)} image(s)/frame(s) labelled, {with_hands} with hands, {hands} hand(s)"
        f" -> {args.out / LABELS_FILE}",
        file=sys.stderr,
    )
    return 1 if failures else 0
