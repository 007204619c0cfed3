"""`open_dataset(name, root, split, **options)`: one entry point to every reader, by name.

A reader registers an opener `fn(root, split, **options) -> torch Dataset of Sample` under its name, either
here in `OPENERS` as "module:function" (imported only when that dataset is opened, so a missing optional
dependency of one reader never breaks the others) or at run time with `register_dataset`.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from typing import Any

Opener = Callable[..., Any]

OPENERS: dict[str, str | Opener] = {
    "synthetic": "handrecon.data.synthetic:open_synthetic",
    "freihand": "handrecon.data.freihand:open_freihand",
    "devdata": "handrecon.data.devdata:open_devdata",
    "shards": "handrecon.data.shards:open_shards",
    "ho3d": "handrecon.data.ho3d:open_ho3d",
    "dexycb": "handrecon.data.dexycb:open_dexycb",
    "interhand26m": "handrecon.data.interhand:open_interhand26m",
    "arctic": "handrecon.data.arctic:open_arctic",
    "assemblyhands": "handrecon.data.assemblyhands:open_assemblyhands",
    "pseudo": "handrecon.data.pseudo:open_pseudo",
    "detected_synthetic": "handrecon.data.detected_synthetic:open_detected_synthetic",
}


def register_dataset(name: str, opener: str | Opener, overwrite: bool = False) -> None:
    """Make `open_dataset(name, ...)` call `opener` ("module:function" or a callable)."""
    if name in OPENERS and not overwrite:
        raise ValueError(f"a dataset named {name!r} is already registered")
    OPENERS[name] = opener


def dataset_names() -> list[str]:
    return sorted(OPENERS)


def _resolve(name: str) -> Opener:
    if name not in OPENERS:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(dataset_names())}")
    opener = OPENERS[name]
    if isinstance(opener, str):
        module, _, fn = opener.partition(":")
        opener = getattr(importlib.import_module(module), fn)
    return opener


def open_dataset(name: str, root: str | os.PathLike | None = None, split: str = "train", **options: Any):
    """The dataset `name` at `root` (its official on-disk release; see each reader), split `split`, as a
    torch Dataset whose items are `handrecon.data.sample.Sample`s."""
    return _resolve(name)(root, split, **options)
