"""Training datasets beyond the framework's built-in three: any reader of `handrecon.data.registry` by name
(`data.train.name: arctic`, `opts: {root: PATH, ...reader options}`), and `mixed`, several of them drawn
with weights in one epoch (WildHands trains on ARCTIC + AssemblyHands in one batch):

    data.train: {name: mixed, length: 100000, opts: {weights: [1, 2], sets: [
        {name: arctic, split: train, opts: {root: ...}}, {name: assemblyhands, split: train, opts: {...}}]}}
"""

from __future__ import annotations

from handrecon.data import registry
from handrecon.data.mixed import MixedDataset
from handrecon.train.config import DatasetConfig
from handrecon.train.data import open_dataset, register_dataset

RELEASE_READERS = ("arctic", "assemblyhands", "ho3d", "dexycb", "interhand26m", "shards", "pseudo")


def _release(name: str):
    def open_release(cfg: DatasetConfig):
        opts = dict(cfg.opts)
        return registry.open_dataset(name, opts.pop("root", None), cfg.split, **opts)

    return open_release


def _mixed(cfg: DatasetConfig):
    opts = dict(cfg.opts)
    sets = [DatasetConfig(**dict(s)) for s in opts.get("sets", [])]
    if not sets:
        raise ValueError("dataset mixed needs opts.sets, a list of datasets")
    parts = [open_dataset(s) for s in sets]
    weights = list(opts.get("weights", [len(p) for p in parts]))
    length = cfg.length if cfg.length is not None else sum(len(p) for p in parts)
    return MixedDataset(parts, weights, length, seed=int(opts.get("seed", 0)))


for _name in RELEASE_READERS:
    register_dataset(_name, _release(_name))
register_dataset("mixed", _mixed)
