"""`handrecon data`: what a dataset release holds (`info`) and packing any reader's output into WebDataset
shards (`pack`). Datasets are named as in `handrecon.data.open_dataset`."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections import Counter
from pathlib import Path
from typing import Any


def _option(text: str) -> tuple[str, Any]:
    """KEY=VALUE with VALUE read as int, float, true/false or text."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    for cast in (int, float):
        try:
            return key, cast(value)
        except ValueError:
            pass
    return key, {"true": True, "false": False}.get(value.lower(), value)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", help="dataset name (freihand, synthetic, devdata, shards, ...)")
    p.add_argument("root", nargs="?", default=None, help="folder of the dataset's release (none: synthetic on the fly)")
    p.add_argument("--split", default="train", help="split (default: train)")
    p.add_argument("--option", "-O", type=_option, action="append", default=[], metavar="KEY=VALUE",
                   help="reader option, repeatable (e.g. -O length=1000 for synthetic)")  # fmt: skip


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="data_command", required=True, metavar="SUBCOMMAND")
    info = sub.add_parser("info", help="what a dataset release holds", description="what a dataset release holds")
    _common(info)
    info.add_argument("--samples", type=int, default=20, help="samples read to summarise the labels (default 20)")
    pack = sub.add_parser("pack", help="pack a dataset into WebDataset tar shards",
                          description="pack a dataset into WebDataset tar shards")  # fmt: skip
    _common(pack)
    pack.add_argument("--out", type=Path, required=True, help="output folder (created; must be absent or empty)")
    pack.add_argument("--shard-size", type=int, default=1000, help="samples per shard (default 1000)")
    pack.add_argument("--format", choices=("jpg", "png"), default="jpg", help="image encoding (default jpg)")
    pack.add_argument("--quality", type=int, default=95, help="JPEG quality (default 95)")
    pack.add_argument("--limit", type=int, default=None, help="pack only the first N samples")
    pack.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1), help="reading processes")


def _first(x):
    return x


def _samples(dataset, limit: int | None, workers: int):
    """The dataset's samples in order, read by `workers` DataLoader processes."""
    import torch

    if isinstance(dataset, torch.utils.data.IterableDataset):
        source = dataset
    else:
        n = len(dataset) if limit is None else min(limit, len(dataset))
        source = torch.utils.data.Subset(dataset, range(n))
    loader = torch.utils.data.DataLoader(source, batch_size=None, num_workers=workers, collate_fn=_first)
    for i, s in enumerate(loader):
        if limit is not None and i >= limit:
            break
        yield s


def _summary(samples) -> dict[str, Any]:
    c: Counter = Counter()
    sizes: Counter = Counter()
    for s in samples:
        c["samples"] += 1
        c["hands"] += len(s.hands)
        c["with K"] += s.K_known
        c["with mask"] += s.mask is not None
        sizes[f"{s.size[0]}x{s.size[1]}"] += 1
        for h in s.hands:
            c[f"{h.side} hands"] += 1
            c["2D keypoints"] += h.keypoints_2d is not None
            c["3D joints (all valid)"] += h.joints_3d is not None and bool(h.joints_3d_valid.all())
            c["3D joints (partly valid)"] += h.joints_3d is not None and not bool(h.joints_3d_valid.all())
            c[f"{h.hand_model} parameters"] += h.has_pose
            c["boxes"] += h.box is not None
    c.pop("None parameters", None)
    return {"counts": dict(c), "image sizes": dict(sizes.most_common(5))}


def _info(args: argparse.Namespace, dataset) -> int:
    import itertools

    n = len(dataset) if hasattr(dataset, "__len__") else getattr(dataset, "count", None)
    print(f"dataset: {args.name}  root: {args.root}  split: {args.split}")
    print(f"samples: {n if n is not None else 'streamed (unknown count)'}")
    first = list(itertools.islice(_samples(dataset, args.samples, 0), args.samples))
    if not first:
        print("no samples")
        return 0
    s = _summary(first)
    print(f"in the first {len(first)} samples: images {s['image sizes']}")
    for k, v in s["counts"].items():
        if k != "samples":
            print(f"  {k}: {v}")
    print(f"sources: {sorted({x.source for x in first})}")
    return 0


def _pack(args: argparse.Namespace, dataset) -> int:
    from tqdm import tqdm

    from handrecon.data.shards import sample_key, write_shards

    out: Path = args.out
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        print(f"handrecon data pack: {out}: exists and is not an empty folder", file=sys.stderr)
        return 2
    if args.shard_size <= 0 or not 1 <= args.quality <= 100:
        print("handrecon data pack: --shard-size must be positive and --quality in 1..100", file=sys.stderr)
        return 2
    stage = out.with_name(f".{out.name}.partial-{os.getpid()}")
    total = len(dataset) if hasattr(dataset, "__len__") else None
    if total is not None and args.limit is not None:
        total = min(total, args.limit)
    keys = (sample_key(args.name, i) for i in range(10**12))
    try:
        with tqdm(_samples(dataset, args.limit, max(0, args.workers)), total=total, unit="sample") as bar:
            index = write_shards(bar, stage, prefix=args.name, samples_per_shard=args.shard_size,
                                 image_format=args.format, quality=args.quality, keys=keys)  # fmt: skip
        if out.exists():
            out.rmdir()
        os.replace(stage, out)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    print(f"{index['count']} samples in {len(index['shards'])} shards: {out}")
    return 0


def run(args: argparse.Namespace) -> int:
    from handrecon.data import open_dataset
    from handrecon.io.errors import InputError

    try:
        dataset = open_dataset(args.name, args.root, args.split, **dict(args.option))
        return _info(args, dataset) if args.data_command == "info" else _pack(args, dataset)
    except (InputError, ValueError, FileNotFoundError, FileExistsError, TypeError) as e:
        print(f"handrecon data {args.data_command}: {e}", file=sys.stderr)
        return 2
