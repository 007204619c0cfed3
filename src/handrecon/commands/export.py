"""`handrecon export CHECKPOINT`: the trained network as ONNX, checked against PyTorch with onnxruntime."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", type=Path, help="a checkpoint written by handrecon train")
    p.add_argument("--out", "-o", type=Path, help="the .onnx file (default: beside the checkpoint)")
    p.add_argument("--opset", type=int, default=17)
    p.add_argument("--batch-size", type=int, default=1, help="the graph's (fixed) batch size (default 1)")
    p.add_argument("--tolerance", type=float, default=1e-4, help="largest accepted |ONNX - PyTorch| (metres, px)")


def run(args: argparse.Namespace) -> int:
    from handrecon.io.errors import InputError
    from handrecon.train.export import export_onnx, verify_onnx
    from handrecon.train.run import load_checkpoint

    try:
        model = load_checkpoint(args.checkpoint)
    except InputError as e:
        print(f"handrecon export: {e}", file=sys.stderr)
        return 2
    out = args.out or args.checkpoint.with_suffix(".onnx")
    export_onnx(model, out, args.opset, args.batch_size)
    diffs = verify_onnx(model, out)
    worst = max(diffs.values())
    print(f"wrote {out}; largest |ONNX - PyTorch| {worst:.2e} ({', '.join(f'{k} {v:.1e}' for k, v in diffs.items())})")
    if worst > args.tolerance:
        msg = f"outputs differ from PyTorch by {worst:.2e} > {args.tolerance}"
        print(f"handrecon export: {out}: {msg}", file=sys.stderr)
        return 1
    return 0
