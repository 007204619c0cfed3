"""Label conversion to openhand parameters (`handrecon data convert-labels`) on the real hands of the
InterHand2.6M excerpt in ../shared/devdata: per-hand mean distance of the fitted joints to the labels, and
seconds per hand (the hands fitted in one batch; several runs, median).

    python benchmarks/bench_convert_labels.py
"""

from __future__ import annotations

import statistics
import sys
import time

import torch

from handrecon.data.convert_labels import OpenhandConverter, Target
from handrecon.data.devdata import default_devdata_dir, load_labelled


def main(runs: int = 3) -> int:
    torch.set_num_threads(1)
    if default_devdata_dir() is None:
        print("../shared/devdata not present", file=sys.stderr)
        return 1
    targets = [
        Target(i, k, h.side, h.xyz)
        for i, item in enumerate(x for x in load_labelled() if x.dataset == "interhand2.6m")
        for k, h in enumerate(item.hands)
        if h.xyz is not None and h.visible.all()
    ]
    conv = OpenhandConverter()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        out = conv.fit(targets)
        times.append(time.perf_counter() - t)
    err = out["joint_error"] * 1000
    print(f"hands: {len(targets)}")
    print("mean joint error per hand (mm): " + ", ".join(f"{e:.1f}" for e in err))
    print(f"over all hands: {err.mean():.1f} mm; max {err.max():.1f} mm")
    per_hand = statistics.median(times) / len(targets)
    print(f"seconds per hand (batch of {len(targets)}, median of {runs}): {per_hand:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
