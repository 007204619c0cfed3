"""A small cache keyed by tensor contents, for results that depend only on a hand model's mesh or UV layout
(the rasterized UV layout, the mesh Laplacian): they are computed once however many tensor objects hold the
same data, e.g. UVs gathered afresh for every photo. A hit is confirmed by comparing contents, so a hash
collision can never return another model's data."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TypeVar

import torch

T = TypeVar("T")


def _digest(t: torch.Tensor) -> tuple:
    """Cheap key of a tensor: dtype, shape, device and a hash of its bytes."""
    data = t.detach().cpu().contiguous()
    return str(t.dtype), tuple(t.shape), str(t.device), hash(data.view(-1).view(torch.uint8).numpy().tobytes())


class ContentCache:
    """LRU cache of values computed from tensors, keyed by the tensors' contents plus hashable extras."""

    def __init__(self, maxsize: int = 8):
        self.maxsize = maxsize
        self._items: OrderedDict[tuple, tuple[tuple[torch.Tensor, ...], object]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, tensors: tuple[torch.Tensor, ...], extra: Hashable, compute: Callable[[], T]) -> T:
        """The cached value for these tensor contents and extras, computing and storing it on a miss."""
        key = (tuple(_digest(t) for t in tensors), extra)
        with self._lock:
            hit = self._items.get(key)
            if hit is not None and all(torch.equal(a, b.detach()) for a, b in zip(hit[0], tensors, strict=True)):
                self._items.move_to_end(key)
                return hit[1]  # type: ignore[return-value]
        value = compute()
        with self._lock:
            self._items[key] = (tuple(t.detach().clone() for t in tensors), value)
            while len(self._items) > self.maxsize:
                self._items.popitem(last=False)
        return value

    def clear(self) -> None:
        """Drop every entry (e.g. to release memory after a model is unloaded)."""
        with self._lock:
            self._items.clear()
