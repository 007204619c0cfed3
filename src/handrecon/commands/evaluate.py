"""`handrecon evaluate CHECKPOINT --dataset NAME --split SPLIT`: the metrics table of a trained network on a
dataset (metrics.txt, metrics.json) and, with --submission, the file an evaluation server takes."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", type=Path, help="a checkpoint written by handrecon train")
    p.add_argument("--dataset", required=True, help="a data-registry name (synthetic, freihand, devdata, ...)")
    p.add_argument("--split", default="evaluation", help="the dataset's split (default: evaluation)")
    p.add_argument("--root", help="the dataset's folder (freihand)")
    p.add_argument("--limit", type=int, help="evaluate the first N samples only")
    p.add_argument("--start", type=int, help="first sample (synthetic: the start of its index range)")
    p.add_argument("--submission", choices=["freihand", "ho3d_v2", "ho3d_v3"], help="also write this server's file")
    p.add_argument("--out", "-o", type=Path, default=Path("handrecon_eval"), help="output folder")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--device", default="cpu")


def run(args: argparse.Namespace) -> int:
    from handrecon.io.errors import InputError
    from handrecon.train.config import DatasetConfig
    from handrecon.train.evaluate import evaluate_model, write_evaluation
    from handrecon.train.run import load_checkpoint
    from handrecon.train.submission import check_submission, write_submission

    try:
        model = load_checkpoint(args.checkpoint, args.device)
    except InputError as e:
        print(f"handrecon evaluate: {e}", file=sys.stderr)
        return 2
    opts = {"root": args.root} if args.root else {}
    ds = DatasetConfig(args.dataset, args.split, args.limit, args.start, opts)
    ev = evaluate_model(model, ds, args.batch_size, float(model.recipe.data.crop_scale))
    files = write_evaluation(ev, args.out)
    print(ev.report.format_table())
    if args.submission:
        path = write_submission(ev.joints, ev.vertices, args.submission, args.out)
        files.append(path)
        for problem in check_submission(path, args.submission):
            print(f"handrecon evaluate: warning: {path.name}: {problem}", file=sys.stderr)
    print("wrote " + ", ".join(str(f) for f in files))
    return 0
