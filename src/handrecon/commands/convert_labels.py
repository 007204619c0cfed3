"""`handrecon data convert-labels NAME ROOT --out CACHE`: openhand parameters fitted once to a dataset's 3D
joint labels (and to MANO's joints when --mano-dir holds the user's MANO files), cached so that openhand
models train on any MANO-labelled dataset (`open_dataset(..., openhand_labels=CACHE_FILE)`). Resumes an
interrupted run from its finished chunks."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", help="dataset name (ho3d, dexycb, interhand26m, arctic, assemblyhands, freihand, ...)")
    p.add_argument("root", type=Path, help="folder of the dataset's release")
    p.add_argument("--out", type=Path, required=True, help="cache folder (the file is <name>_<split>_openhand.npz)")
    p.add_argument("--split", default="train", help="split (default: train)")
    p.add_argument("--mano-dir", type=Path, help="folder with MANO_RIGHT.pkl / MANO_LEFT.pkl: fit MANO's joints too")
    p.add_argument("--option", "-O", action="append", default=[], metavar="KEY=VALUE", help="reader option")
    p.add_argument("--limit", type=int, help="convert only the first N samples")
    p.add_argument("--chunk", type=int, default=256, help="samples per resumable chunk (default 256)")
    p.add_argument("--iterations", type=int, default=8, help="Levenberg-Marquardt iterations (default 8)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")


def _options(items: list[str]) -> dict:
    out = {}
    for text in items:
        key, sep, value = text.partition("=")
        if not sep or not key:
            raise ValueError(f"expected KEY=VALUE, got {text!r}")
        out[key] = value
    return out


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from handrecon.data.convert_labels import OpenhandConverter, convert_dataset
    from handrecon.data.mano_labels import MANOConverter
    from handrecon.data.registry import open_dataset
    from handrecon.data.release_info import RELEASE_CLASSES
    from handrecon.io.errors import InputError

    try:
        options = _options(args.option)
        if args.mano_dir is not None and args.name in RELEASE_CLASSES:
            options["mano_dir"] = args.mano_dir
        dataset = open_dataset(args.name, args.root, args.split, **options)
    except (InputError, ValueError, FileNotFoundError) as e:
        print(f"handrecon data convert-labels: {e}", file=sys.stderr)
        return 2
    bar = tqdm(total=len(dataset) if args.limit is None else min(args.limit, len(dataset)), unit="sample",
               disable=args.quiet, file=sys.stderr)  # fmt: skip

    def progress(done: int, total: int) -> None:
        bar.update(done - bar.n)

    try:
        path = convert_dataset(
            dataset, args.out, args.name, args.split, mano=MANOConverter(args.mano_dir), chunk=args.chunk,
            limit=args.limit, progress=progress, converter=OpenhandConverter(iterations=args.iterations),
        )  # fmt: skip
    except InputError as e:
        print(f"handrecon data convert-labels: {e}", file=sys.stderr)
        return 1
    finally:
        bar.close()
    from handrecon.data.convert_labels import OpenhandLabels

    labels = OpenhandLabels(path)
    err = labels.data["joint_error"]
    summary = f"mean joint error {1000 * err.mean():.1f} mm" if len(err) else "no hand had all 21 joints labelled"
    print(f"{len(labels)} hand(s) converted -> {path} ({summary})", file=sys.stderr)
    return 0
