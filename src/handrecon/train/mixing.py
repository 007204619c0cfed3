"""`mixed`: several datasets drawn with weights in one training epoch (WildHands trains on ARCTIC +
AssemblyHands in one batch), registered in the data package's registry:

    data.train: {name: mixed, opts: {length: 100000, weights: [1, 2], sets: [
        {name: arctic, split: train, opts: {root: ...}}, {name: assemblyhands, split: train, opts: {...}}]}}
"""

from __future__ import annotations

from handrecon.data import registry
from handrecon.data.mixed import MixedDataset
from handrecon.train.config import DatasetConfig


def open_mixed(root=None, split: str = "train", sets=(), weights=None, length: int | None = None, seed: int = 0):
    """A `MixedDataset` of the datasets `sets` (each a `DatasetConfig` as a dict), `length` items in all."""
    from handrecon.train.data import open_dataset

    cfgs = [DatasetConfig(**dict(s)) for s in sets]
    if not cfgs:
        raise ValueError("dataset mixed needs opts.sets, a list of datasets")
    parts = [open_dataset(c) for c in cfgs]
    w = list(weights) if weights is not None else [len(p) for p in parts]
    n = int(length) if length is not None else sum(len(p) for p in parts)
    return MixedDataset(parts, w, n, seed=int(seed))


registry.register_dataset("mixed", open_mixed, overwrite=True)
