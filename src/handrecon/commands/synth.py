"""`handrecon synth`: write a labelled synthetic set in FreiHAND's layout (see `handrecon.data.freihand_writer`)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--n", type=int, required=True, help="number of samples")
    parser.add_argument("--out", type=Path, required=True, help="output folder (created; must be empty or absent)")
    parser.add_argument("--two-hands", action="store_true", help="two interacting hands per image")
    parser.add_argument("--egocentric", action="store_true", help="head-mounted wide-angle views instead of crops")
    parser.add_argument("--seed", type=int, default=0, help="seed of the set (sample i depends on seed and i only)")
    parser.add_argument("--size", type=int, default=224, help="image side in pixels")
    parser.add_argument("--start", type=int, default=0, help="index of the first sample")
    parser.add_argument(
        "--workers", type=int, default=min(2, os.cpu_count() or 1), help="processes rendering in parallel"
    )
    parser.add_argument("--jpeg-quality", type=int, default=95, help="quality of the written JPEG files")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output folder")


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from handrecon.data.synthetic_set import generate_set
    from handrecon.synth.config import SynthConfig

    if args.n <= 0:
        print("handrecon synth: --n must be positive", file=sys.stderr)
        return 2
    if not 1 <= args.jpeg_quality <= 100:
        print("handrecon synth: --jpeg-quality must be in 1..100", file=sys.stderr)
        return 2
    try:
        config = SynthConfig(
            size=args.size,
            seed=args.seed,
            two_hand_prob=1.0 if args.two_hands else 0.0,
            ego_prob=1.0 if args.egocentric else 0.0,
        )
    except ValueError as e:
        print(f"handrecon synth: {e}", file=sys.stderr)
        return 2
    try:
        with tqdm(total=args.n, unit="img", desc="synth") as bar:
            root, seconds = generate_set(
                config,
                args.n,
                args.out,
                workers=max(1, args.workers),
                start=args.start,
                jpeg_quality=args.jpeg_quality,
                overwrite=args.overwrite,
                progress=bar.update,
            )
    except (FileExistsError, OSError) as e:
        print(f"handrecon synth: {e}", file=sys.stderr)
        return 1
    print(f"wrote {args.n} samples to {root} in {seconds:.1f} s ({args.n / seconds:.1f} samples/s)")
    return 0
