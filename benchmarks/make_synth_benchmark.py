"""Generate the fixed synthetic 3D benchmark: 1000 single-hand and 300 two-hand images, exocentric and egocentric.

Run: python benchmarks/make_synth_benchmark.py [--out ~/.cache/handrecon/synth_bench] [--workers 2] [--overwrite]

Every subset is one `handrecon synth` run with a fixed seed (the same set on every machine, since a sample
depends only on its seed and index); the equivalent commands are printed and recorded in the folder's
`benchmark.json` with the per-subset counts. A subset already present (its `synth_meta.json` written with
the same seed and size) is kept unless --overwrite is given.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from tqdm import tqdm

from handrecon.data.synthetic_set import generate_set
from handrecon.io.atomic import write_json_atomic
from handrecon.synth.config import SynthConfig

SIZE = 224
# name: (count, seed, two hands, egocentric)
SUBSETS: dict[str, tuple[int, int, bool, bool]] = {
    "single_exo": (500, 20240001, False, False),
    "single_ego": (500, 20240002, False, True),
    "two_exo": (150, 20240003, True, False),
    "two_ego": (150, 20240004, True, True),
}
DEFAULT_OUT = Path("~/.cache/handrecon/synth_bench")


def command_line(out: Path, n: int, seed: int, two: bool, ego: bool) -> str:
    flags = (" --two-hands" if two else "") + (" --egocentric" if ego else "")
    return f"handrecon synth --n {n} --out {out} --seed {seed} --size {SIZE}{flags}"


def is_complete(folder: Path, n: int, seed: int) -> bool:
    meta = folder / "synth_meta.json"
    if not meta.is_file():
        return False
    m = json.loads(meta.read_text())
    return m.get("count") == n and m.get("config", {}).get("seed") == seed and m.get("config", {}).get("size") == SIZE


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args()
    root = args.out.expanduser()
    root.mkdir(parents=True, exist_ok=True)
    record = {"size": SIZE, "subsets": {}}
    for name, (n, seed, two, ego) in SUBSETS.items():
        folder = root / name
        cmd = command_line(folder, n, seed, two, ego)
        record["subsets"][name] = {"count": n, "seed": seed, "two_hands": two, "egocentric": ego, "command": cmd}
        print(cmd)
        if is_complete(folder, n, seed) and not args.overwrite:
            print(f"  {folder} is complete, kept")
            continue
        config = SynthConfig(size=SIZE, seed=seed, two_hand_prob=float(two), ego_prob=float(ego))
        t0 = time.perf_counter()
        with tqdm(total=n, unit="img", desc=name) as bar:
            generate_set(config, n, folder, workers=args.workers, overwrite=True, progress=bar.update)
        record["subsets"][name]["seconds"] = round(time.perf_counter() - t0, 1)
    write_json_atomic(root / "benchmark.json", record)
    print(f"benchmark in {root} ({sum(v[0] for v in SUBSETS.values())} images)")


if __name__ == "__main__":
    main()
