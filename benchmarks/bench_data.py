"""Training data throughput: samples per second into a DataLoader, from a folder reader and from shards.

Run: python benchmarks/bench_data.py [--n 512] [--runs 3] [--workers 2] [--size 224] [--batch 32]

Builds a FreiHAND-layout folder of --n images at 320 x 320 (--unique distinct synthetic renders, each
written several times: the reader's work does not depend on the image content), packs it into WebDataset
shards (JPEG, quality 95), then reads each through a DataLoader with --workers processes, 224 x 224 hand
crops and the training augmentation (`AugmentConfig.training`: scale / rotation / shift jitter, flips,
colour jitter, blur and occluders on some samples), collated into batches of --batch. Printed per run and
as the median over runs, side by side for the two sources:
- samples/s: wall clock from the loader's start to its last batch (worker start-up included);
- cpu ms/sample: CPU time of the main process and the workers per sample, a figure that does not depend
  on what else runs on the machine (2 dedicated cores give at most 2000 / cpu samples per second).
The load average before and after is printed: the machine may be shared.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path

import torch

from handrecon.data.augment import AugmentConfig, AugmentedDataset
from handrecon.data.freihand import FreiHANDDataset
from handrecon.data.freihand_writer import FreiHANDWriter, encode_sample
from handrecon.data.sample import collate_samples
from handrecon.data.shards import ShardDataset, write_shards
from handrecon.synth.config import SynthConfig
from handrecon.synth.engine import SynthEngine


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _worker_init(_: int) -> None:
    import cv2

    cv2.setNumThreads(1)  # one thread per worker: the workers are the parallelism


def build_folder(root: Path, n: int, unique: int) -> None:
    engine = SynthEngine(SynthConfig(size=320, seed=1, two_hand_prob=0.3, texture_size=128))
    encoded = [encode_sample(engine.sample(i)) for i in range(unique)]
    with FreiHANDWriter(root) as writer:
        for i in range(n):
            writer.add(encoded[i % unique])
        writer.close({"note": "bench_data"})


def measure(dataset, workers: int, batch: int) -> tuple[float, float, int]:
    """(samples/s, CPU ms per sample, samples) of one pass."""
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=batch, num_workers=workers, collate_fn=collate_samples, worker_init_fn=_worker_init
    )
    c0, t0 = _cpu_seconds(), time.perf_counter()
    n = 0
    for b in loader:
        n += b["image"].shape[0]
    t = time.perf_counter() - t0
    del loader  # workers exit and are reaped: their CPU time is counted
    return n / t, (_cpu_seconds() - c0) * 1000 / n, n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=512)
    parser.add_argument("--unique", type=int, default=16)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"load average before: {os.getloadavg()}, cpus: {os.cpu_count()}")
    aug = AugmentConfig.training(args.size)
    with tempfile.TemporaryDirectory() as tmp:
        folder, shards = Path(tmp) / "folder", Path(tmp) / "shards"
        t0 = time.perf_counter()
        build_folder(folder, args.n, args.unique)
        reader = FreiHANDDataset(folder)
        write_shards((reader[i] for i in range(len(reader))), shards, samples_per_shard=128)
        print(f"built {args.n} samples (folder + shards) in {time.perf_counter() - t0:.1f} s")
        sources = {
            "folder (FreiHAND layout)": AugmentedDataset(FreiHANDDataset(folder), aug, seed=0),
            "shards (WebDataset)": ShardDataset(shards, aug, seed=0),
        }
        results: dict[str, list[tuple[float, float]]] = {k: [] for k in sources}
        for run in range(args.runs):
            for name, ds in sources.items():  # alternate the sources: load changes hit both
                rate, cpu, n = measure(ds, args.workers, args.batch)
                results[name].append((rate, cpu))
                print(f"run {run + 1} {name}: {rate:7.1f} samples/s, {cpu:6.2f} cpu ms/sample ({n} samples)")
    print(f"\n{args.size}x{args.size} crops with training augmentation, {args.workers} workers, batch {args.batch}")
    print(f"{'source':28s} {'samples/s (median)':>20s} {'cpu ms/sample (median)':>24s}")
    for name, r in results.items():
        rate = statistics.median(x[0] for x in r)
        cpu = statistics.median(x[1] for x in r)
        print(f"{name:28s} {rate:20.1f} {cpu:24.2f}")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
