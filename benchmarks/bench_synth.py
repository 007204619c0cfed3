"""Synthetic data throughput: samples per second written to disk in FreiHAND's layout.

Run: python benchmarks/bench_synth.py [--n 400] [--runs 3] [--workers 2] [--size 224] [--two-hands] [--egocentric]

Each run generates --n samples (a different seed per run) with --workers processes into a temporary folder,
exactly as `handrecon synth` does (render, label, simulate detections, JPEG/PNG encoding, writing, the
annotation files). Printed per run and as the median over runs:
- steady: samples per second from the first written sample to the last (worker start-up excluded);
- overall: samples per second including start-up (building the engines) and the final annotation files;
- cpu: CPU milliseconds per sample summed over the workers and the writing process (start-up included),
  a figure that does not depend on what else runs on the machine: 2 dedicated cores give at most
  2000 / cpu samples per second.
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

from handrecon.data.freihand_writer import FreiHANDWriter
from handrecon.synth.config import SynthConfig
from handrecon.synth.generate import encoded_samples, set_metadata


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def one_run(config: SynthConfig, n: int, workers: int) -> tuple[float, float, float]:
    """(steady samples/s, overall samples/s, CPU ms per sample) of one generated set."""
    with tempfile.TemporaryDirectory() as tmp:
        c0 = _cpu_seconds()
        t0 = time.perf_counter()
        first = None
        with FreiHANDWriter(Path(tmp) / "set") as writer:
            for item in encoded_samples(config, list(range(n)), workers):
                writer.add(item)
                if first is None:
                    first = time.perf_counter()
            t_last = time.perf_counter()
            writer.close(set_metadata(config, 0))
        t_end = time.perf_counter()
        cpu_ms = (_cpu_seconds() - c0) * 1000 / n
    steady = (n - 1) / (t_last - first) if first is not None and t_last > first else float("nan")
    return steady, n / (t_end - t0), cpu_ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=400)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--two-hands", action="store_true")
    parser.add_argument("--egocentric", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    kind = ("two-hand" if args.two_hands else "single-hand") + (" egocentric" if args.egocentric else " exocentric")
    print(
        f"{kind} {args.size}x{args.size}, {args.n} samples x {args.runs} runs, {args.workers} worker processes, "
        f"{os.cpu_count()} CPUs visible, torch {torch.__version__}"
    )
    steady, overall, cpu = [], [], []
    for r in range(args.runs):
        config = SynthConfig(
            size=args.size,
            seed=1000 + r,
            two_hand_prob=1.0 if args.two_hands else 0.0,
            ego_prob=1.0 if args.egocentric else 0.0,
        )
        s, o, c = one_run(config, args.n, args.workers)
        steady.append(s)
        overall.append(o)
        cpu.append(c)
        print(f"run {r + 1}: steady {s:.1f} samples/s, overall {o:.1f} samples/s, cpu {c:.1f} ms/sample")
    med_s, med_o, med_c = statistics.median(steady), statistics.median(overall), statistics.median(cpu)
    print(f"median: steady {med_s:.1f} samples/s, overall {med_o:.1f} samples/s, cpu {med_c:.1f} ms/sample")


if __name__ == "__main__":
    main()
