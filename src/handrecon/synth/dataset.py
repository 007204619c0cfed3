"""A torch Dataset that renders synthetic samples on the fly.

Sample i is a pure function of (configuration, i): every random stream is seeded from (seed, i), so the
same index gives the same sample in any worker, in any order, with any number of workers. The engine (hand
models, texture banks) is built lazily in each process that reads, so the dataset pickles cheaply into
DataLoader workers.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch

from handrecon.synth.config import SynthConfig
from handrecon.synth.engine import SynthEngine, SynthSample


def sample_to_tensors(s: SynthSample) -> dict[str, Any]:
    """Tensors of a sample with fixed shapes (two hand slots, NaN / -1 where absent), ready for collation."""
    t = torch.from_numpy
    return {
        "index": s.index,
        "image": t(s.image).permute(2, 0, 1).float() / 255.0,
        "objects": t(s.objects.astype(np.int64)),
        "K": t(np.asarray(s.K, np.float32)),
        "side": t(s.side.astype(np.int64)),
        "joints3d": t(s.joints3d),
        "joints2d": t(s.joints2d),
        "occlusion": t(s.occlusion.astype(np.int64)),
        "visible": t(s.visible),
        "detections": t(s.detections),
        "confidence": t(s.confidence),
        "vertices": t(s.vertices),
        "global_orient": t(s.global_orient),
        "hand_pose": t(s.hand_pose),
        "betas": t(s.betas),
        "transl": t(s.transl),
        "angles": t(s.angles),
        "category": t(s.category.astype(np.int64)),
        "rel_transl": t(s.rel_transl.astype(np.float32)),
        "egocentric": s.egocentric,
        "lighting": t(s.lighting.astype(np.float32)),
    }


class SyntheticHandDataset(torch.utils.data.Dataset):
    """`length` synthetic samples of `config`, rendered when read (see the module docstring)."""

    def __init__(self, config: SynthConfig | None = None, length: int = 10_000, start: int = 0) -> None:
        if length < 0 or start < 0:
            raise ValueError(f"length and start must be non-negative, got {length} and {start}")
        self.config = config or SynthConfig()
        self.length = length
        self.start = start
        self._engine: SynthEngine | None = None
        self._pid: int | None = None

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_engine"], state["_pid"] = None, None
        return state

    @property
    def engine(self) -> SynthEngine:
        if self._engine is None or self._pid != os.getpid():
            self._engine = SynthEngine(self.config)
            self._pid = os.getpid()
        return self._engine

    def __len__(self) -> int:
        return self.length

    def sample(self, i: int) -> SynthSample:
        """The sample as numpy arrays (`SynthSample`)."""
        if not 0 <= i < self.length:
            raise IndexError(f"index {i} out of range for {self.length} samples")
        return self.engine.sample(self.start + i)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return sample_to_tensors(self.sample(i))
