"""A torch Dataset that renders synthetic samples on the fly and returns them in the one sample schema.

Sample i is a pure function of (configuration, i): every random stream is seeded from (seed, i), so the
same index gives the same sample in any worker, in any order, with any number of workers. The engine (hand
models, texture banks) is built lazily in each process that reads, so the dataset pickles cheaply into
DataLoader workers.
"""

from __future__ import annotations

import os

import numpy as np
import torch

from handrecon.data.sample import HandLabel, Sample
from handrecon.synth.config import SynthConfig
from handrecon.synth.engine import SIDES, SynthEngine, SynthSample

KEYPOINT_SOURCES = ("truth", "detections")


def sample_from_synth(s: SynthSample, keypoints: str = "truth", source: str = "synthetic") -> Sample:
    """A `SynthSample` in the sample schema.

    keypoints: "truth" gives the exact projected joints with confidence 1 (joints outside the image or
    hidden included: their positions are known); "detections" gives the simulated detector's keypoints
    with its confidences (the pseudo-labels of the self-supervised methods). `extras` keeps what the schema
    has no slot for, in the source image's frame: `occlusion` (2, 21) `Occlusion` codes (-1 absent),
    `detections` (2, 21, 2), `detection_confidence` (2, 21), `category`, `egocentric`.
    """
    if keypoints not in KEYPOINT_SOURCES:
        raise ValueError(f"keypoints must be one of {KEYPOINT_SOURCES}, got {keypoints!r}")
    hands = []
    mask = np.zeros(s.objects.shape, np.uint8)
    for k in range(len(s.side)):
        if s.side[k] < 0:
            continue
        if keypoints == "truth":
            kp = np.concatenate([s.joints2d[k], np.ones((21, 1))], 1)
        else:
            kp = np.concatenate([s.detections[k], s.confidence[k][:, None]], 1)
        mask[s.mask(k)] = len(hands) + 1
        hands.append(
            HandLabel(
                side=SIDES[int(s.side[k])],
                keypoints_2d=kp,
                joints_3d=s.joints3d[k],
                hand_model=s.model,
                global_orient=s.global_orient[k],
                hand_pose=s.hand_pose[k],
                betas=s.betas[k],
                transl=s.transl[k],
            )
        )
    extras = {
        "occlusion": s.occlusion,
        "detections": s.detections,
        "detection_confidence": s.confidence,
        "category": s.category,
        "egocentric": s.egocentric,
    }
    return Sample(s.image, s.K, hands, mask, source, str(s.index), extras)


class SyntheticHandDataset(torch.utils.data.Dataset):
    """`length` synthetic samples of `config`, rendered when read, as `Sample`s (see the module docstring;
    `keypoints` as in `sample_from_synth`)."""

    def __init__(
        self, config: SynthConfig | None = None, length: int = 10_000, start: int = 0, keypoints: str = "truth"
    ) -> None:
        if length < 0 or start < 0:
            raise ValueError(f"length and start must be non-negative, got {length} and {start}")
        if keypoints not in KEYPOINT_SOURCES:
            raise ValueError(f"keypoints must be one of {KEYPOINT_SOURCES}, got {keypoints!r}")
        self.config = config or SynthConfig()
        self.length = length
        self.start = start
        self.keypoints = keypoints
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

    def synth_sample(self, i: int) -> SynthSample:
        """The sample as the engine makes it (`SynthSample`, numpy, every label the engine has)."""
        if not 0 <= i < self.length:
            raise IndexError(f"index {i} out of range for {self.length} samples")
        return self.engine.sample(self.start + i)

    def __getitem__(self, i: int) -> Sample:
        return sample_from_synth(self.synth_sample(i), self.keypoints)


# Disjoint index ranges of the on-the-fly splits (sample i of a split is engine sample start + i).
SPLIT_STARTS = {"train": 0, "val": 1_000_000_000, "test": 2_000_000_000}


def open_synthetic(root=None, split: str = "train", **options):
    """`open_dataset("synthetic", ...)`: a set written by `handrecon synth` when `root` is given (FreiHAND
    layout), else samples rendered on the fly: options `length` (10000), `keypoints` ("truth" or
    "detections") and any `SynthConfig` field (seed, size, two_hand_prob, ego_prob, ...); the splits
    "train", "val" and "test" are disjoint index ranges of one seed."""
    if root:
        from handrecon.data.freihand import open_freihand

        return open_freihand(root, split, **options)
    if split not in SPLIT_STARTS:
        raise ValueError(f"synthetic split must be one of {sorted(SPLIT_STARTS)}, got {split!r}")
    length = int(options.pop("length", 10_000))
    keypoints = options.pop("keypoints", "truth")
    return SyntheticHandDataset(SynthConfig(**options), length, SPLIT_STARTS[split], keypoints)
