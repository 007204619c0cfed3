"""Torch's intra-op pool held to one thread while the fit (and its start) runs.

The fit's tensors are small (one or two hands: tens of joints, a few hundred vertex-part pairs in the
penetration test), so splitting an operation across threads gains nothing, while each parallel region
costs a fork/join and the pool's threads then spin-wait for the next one. On a busy machine a spinning or
descheduled team member stalls every region: with torch's default of one thread per core (the in-process
API, benchmarks/bench_reconstruct.py), the landmark network of `--init network`, the fit and its
penetration test took about 2-7x, the packaging with its texture about 10x, the CPU time of one thread on
2 loaded cores. `pipeline.image` runs a photo's start, fit and packaging inside one block. The command line's
workers already run one thread (`pipeline.batch.COMPUTE_THREADS`). The results are the same to the bit
(the dev photos' fits with both starts; tests/fit/test_torch_threads.py).

Torch keeps the count per thread (OpenMP's), so this changes the calling thread's only; a block inside
another leaves the count as it found it (one).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


@contextlib.contextmanager
def single_torch_thread() -> Iterator[None]:
    """Run the block with torch's intra-op pool at one thread; the previous count afterwards (also on an
    error). A no-op where the count is already 1 (the command line's workers, a nested block)."""
    before = torch.get_num_threads()
    if before == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
