"""Mixing datasets with per-dataset sampling weights, deterministically (as the large hand models train).

- `MixedDataset` (map-style sources): item i draws its source by the weights and an index in it from
  `sample_rng(seed, epoch, i)`: the same item in any worker, any order.
- `MixedStream` (streaming sources, e.g. `ShardDataset`s): each DataLoader worker interleaves its share of
  every stream, drawing the source of each next sample by the weights from a generator seeded by (seed,
  epoch, worker); an exhausted stream is restarted, and an epoch is `length` samples in all.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch

from handrecon.data.augment import sample_rng


def _weights(weights: Sequence[float], n: int) -> np.ndarray:
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (n,) or not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise ValueError(f"need {n} non-negative sampling weights with a positive sum, got {list(weights)}")
    return w / w.sum()


class MixedDataset(torch.utils.data.Dataset):
    """`length` items drawn from `datasets` with probabilities proportional to `weights`."""

    def __init__(self, datasets: Sequence, weights: Sequence[float], length: int, seed: int = 0) -> None:
        if not datasets or any(len(d) == 0 for d in datasets):
            raise ValueError("every mixed dataset must hold at least one sample")
        self.datasets = list(datasets)
        self.p = _weights(weights, len(self.datasets))
        self.cdf = np.cumsum(self.p)
        self.length = int(length)
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.length

    def source_of(self, i: int) -> tuple[int, int]:
        """(dataset number, index in it) of item i."""
        rng = sample_rng(self.seed, self.epoch, i)
        d = min(int(np.searchsorted(self.cdf, rng.random(), side="right")), len(self.datasets) - 1)
        return d, int(rng.integers(len(self.datasets[d])))

    def __getitem__(self, i: int):
        if not 0 <= i < self.length:
            raise IndexError(f"index {i} out of range for {self.length} items")
        d, j = self.source_of(i)
        return self.datasets[d][j]


class MixedStream(torch.utils.data.IterableDataset):
    """Streams interleaved by weight (see the module docstring)."""

    def __init__(self, streams: Sequence, weights: Sequence[float], length: int, seed: int = 0) -> None:
        if not streams:
            raise ValueError("no streams to mix")
        self.streams = list(streams)
        self.p = _weights(weights, len(self.streams))
        self.length = int(length)
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)
        for s in self.streams:
            if hasattr(s, "set_epoch"):
                s.set_epoch(epoch)

    def __iter__(self) -> Iterator:
        info = torch.utils.data.get_worker_info()
        worker, workers = (0, 1) if info is None else (info.id, info.num_workers)
        count = self.length // workers + (worker < self.length % workers)
        rng = np.random.default_rng([self.seed, self.epoch, worker])
        iters: list[Iterator | None] = [None] * len(self.streams)
        for _ in range(count):
            d = int(rng.choice(len(self.streams), p=self.p))
            for attempt in range(2):
                if iters[d] is None:
                    iters[d] = iter(self.streams[d])
                try:
                    yield next(iters[d])
                    break
                except StopIteration:
                    iters[d] = None
                    if attempt:
                        raise ValueError(f"stream {d} yields no samples (in worker {worker})") from None
