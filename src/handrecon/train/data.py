"""Data for training: datasets by name, the hand crop every network sees, a resumable loader, the DataModule.

Every dataset returns `handrecon.data.sample.Sample`s; `HandCropDataset` turns each into a square crop
(crop_size pixels) around its first hand, with the crop's own intrinsics, and mirrors a left hand into a
right one (image flipped, x -> -x in 3D, parameters mirrored: the networks predict right hands, DESIGN.md),
then gives the one-slot tensor form of the schema plus `flipped` and `crop_A` (image -> crop pixels). The
sample's segmentation goes through the same crop (nearest) and flip: `hand_mask` (mask_size, mask_size), the
cropped hand's share of each cell (area resampling of the crop-resolution mask) for silhouette losses, with
`has_hand_mask` False where the sample has no mask or cannot tell the cropped hand's pixels from another's.

`ResumableLoader` shuffles with a permutation that is a function of (seed, epoch) only and splits it over
the DDP ranks itself; `HandDataModule.state_dict` stores the training position (epoch, batches processed) in
every checkpoint: a resumed run starts at the next batch of the same epoch in the same order (exact resume).
"""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, Sampler

from handrecon.data.sample import MASK_ANY_HAND, HandLabel, Sample, collate_samples
from handrecon.train.config import DataConfig, DatasetConfig
from handrecon.train.crops import apply_homogeneous, box_around, square_crop


def open_dataset(cfg: DatasetConfig) -> Dataset:
    """The dataset of `cfg` as `Sample`s, through the data package's registry (`handrecon.data.open_dataset`:
    synthetic, freihand, devdata, shards or a registered name; `opts.root` is its folder, the other `opts`
    its reader options). A synthetic set with an explicit `start` is that index range of the generator."""
    from handrecon.data import open_dataset as open_registered

    opts = dict(cfg.opts)
    root = opts.pop("root", None)
    if cfg.name == "synthetic" and root is None:
        from handrecon.data.synthetic import SyntheticHandDataset
        from handrecon.synth.config import SynthConfig

        if cfg.start is not None:
            keypoints = opts.pop("keypoints", "truth")
            length = 1000 if cfg.length is None else cfg.length
            return SyntheticHandDataset(SynthConfig(**opts), length=length, start=cfg.start, keypoints=keypoints)
        if cfg.length is not None:
            opts["length"] = cfg.length
        return open_registered("synthetic", None, cfg.split, **opts)
    return _subset(open_registered(cfg.name, root, cfg.split, **opts), cfg)


def _subset(ds: Dataset, cfg: DatasetConfig) -> Dataset:
    start = cfg.start or 0
    if start == 0 and cfg.length is None:
        return ds
    stop = len(ds) if cfg.length is None else min(len(ds), start + cfg.length)
    return torch.utils.data.Subset(ds, range(start, stop))


def first_hand_pixels(sample: Sample) -> np.ndarray | None:
    """(H, W) bool pixels of the sample's first hand, or None without a mask or where a union mask
    (`MASK_ANY_HAND`) of several hands leaves them unknown (a one-hand sample's union mask is its hand)."""
    if sample.mask is None:
        return None
    pixels = sample.mask == 1
    if (sample.mask == MASK_ANY_HAND).any():
        if len(sample.hands) > 1:
            return None
        pixels |= sample.mask == MASK_ANY_HAND
    return pixels


def crop_hand(sample: Sample, size: int = 224, scale: float = 1.6, jitter: float = 0.0,
              rng: np.random.Generator | None = None) -> tuple[Sample, np.ndarray, bool]:
    """(the crop around the first hand as a one-hand right-hand Sample, A image -> crop pixels, flipped).
    The crop's mask (when known, `first_hand_pixels`) is 1 on that hand, 0 elsewhere, same crop and flip."""
    if not sample.hands:
        raise ValueError(f"sample {sample.source}:{sample.sample_id} has no hand to crop")
    h = sample.hands[0]
    if h.keypoints_2d is not None and (h.keypoints_2d[:, 2] > 0).any():
        pts, vis = h.keypoints_2d[:, :2], h.keypoints_2d[:, 2] > 0
    elif h.joints_3d is not None:
        uvw = h.joints_3d @ sample.K.T
        pts, vis = uvw[:, :2] / uvw[:, 2:], h.joints_3d_valid
    elif h.box is not None:
        pts, vis = h.box.reshape(2, 2), None
    else:
        raise ValueError(f"sample {sample.source}:{sample.sample_id}: its first hand has no 2D, 3D or box label")
    cx, cy, side = box_around(pts, vis, scale)
    side = max(side, 8.0)
    if jitter and rng is not None:
        cx += rng.uniform(-jitter, jitter) * side
        cy += rng.uniform(-jitter, jitter) * side
        side *= 1 + rng.uniform(-jitter, jitter)
    crop = square_crop(sample.image, cx, cy, side, size, K=sample.K)
    image, K, A = crop.image, crop.K, crop.A
    pixels = first_hand_pixels(sample)
    mask = None
    if pixels is not None:
        mask = np.array(square_crop(pixels.astype(np.uint8), cx, cy, side, size, resample=Image.NEAREST).image)
    kp = None
    if h.keypoints_2d is not None:
        kp = h.keypoints_2d.copy()
        kp[:, :2] = apply_homogeneous(A, kp[:, :2])
    j3, params = h.joints_3d, h.params
    flipped = h.side == "left"
    if flipped:
        image = np.ascontiguousarray(image[:, ::-1])
        mask = None if mask is None else np.ascontiguousarray(mask[:, ::-1])
        F = np.diag([-1.0, 1.0, 1.0])
        F[0, 2] = size
        A, K = F @ A, F @ K @ np.diag([-1.0, 1.0, 1.0])
        if kp is not None:
            kp[:, 0] = size - kp[:, 0]
        j3 = None if j3 is None else j3 * np.array([-1.0, 1.0, 1.0])
        params = None if params is None else params.mirrored()
    p = None if params is None else params.numpy()
    hand = HandLabel(
        side="right",
        keypoints_2d=kp,
        joints_3d=j3,
        joints_3d_valid=h.joints_3d_valid,
        hand_model=h.hand_model if p is not None else None,
        global_orient=None if p is None else p["global_orient"],
        hand_pose=None if p is None else p["hand_pose"],
        betas=None if (p is None or h.betas is None) else p["betas"][: h.betas.size],
        transl=None if (p is None or h.transl is None) else p["transl"],
    )
    return Sample(image, K, [hand], mask, sample.source, sample.sample_id), A, flipped


DEFAULT_MASK_SIZE = 56  # side of `hand_mask`: a silhouette loss renders at this resolution


def mask_target(mask: torch.Tensor, size: int) -> torch.Tensor:
    """(size, size) float share of hand pixels per cell of a square (S, S) 0/1 mask (area resampling)."""
    m = (mask > 0).float()[None, None]
    if m.shape[-1] == size:
        return m[0, 0]
    return torch.nn.functional.interpolate(m, size=(size, size), mode="area")[0, 0]


class HandCropDataset(Dataset):
    """Crops of a `Sample` dataset as one-slot tensors (see the module docstring); `cache` keeps them in memory;
    `mask_size` is the side of `hand_mask` (0: no mask in the output; None: 56, or the crop size if smaller)."""

    def __init__(self, base: Dataset, size: int = 224, scale: float = 1.6, jitter: float = 0.0, seed: int = 0,
                 cache: bool = False, mask_size: int | None = None) -> None:
        mask_size = min(DEFAULT_MASK_SIZE, size) if mask_size is None else mask_size
        if not 0 <= mask_size <= size:
            raise ValueError(f"mask_size must be in [0, crop size {size}], got {mask_size}")
        self.base, self.size, self.scale, self.jitter, self.seed = base, size, scale, jitter, seed
        self.mask_size = mask_size
        self._cache: dict[int, dict[str, Any]] | None = {} if cache else None

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int) -> dict[str, Any]:
        if self._cache is not None and i in self._cache:
            return self._cache[i]
        rng = np.random.default_rng((self.seed, i)) if self.jitter else None
        sample, A, flipped = crop_hand(self.base[i], self.size, self.scale, self.jitter, rng)
        t = sample.to_tensors(max_hands=1)
        mask, has_mask = t.pop("mask"), t.pop("has_mask")
        if self.mask_size:
            t["hand_mask"] = mask_target(mask, self.mask_size)
            t["has_hand_mask"] = has_mask
        t["flipped"] = torch.tensor(flipped)
        t["crop_A"] = torch.from_numpy(A.astype(np.float32))
        t["index"] = i
        if self._cache is not None:
            self._cache[i] = t
        return t


def collate(batch: list[dict[str, Any]]) -> dict[str, Any]:
    return collate_samples(batch, max_hands=1)


class EpochPermutationSampler(Sampler[int]):
    """Indices of this rank for the epoch: a (seed, epoch) permutation (or the identity), from `start` on."""

    def __init__(self, n: int, seed: int = 0, shuffle: bool = True) -> None:
        self.n, self.seed, self.shuffle = n, seed, shuffle
        self.epoch = 0
        self.start = 0  # indices of this rank already consumed (resume)

    def set_epoch(self, epoch: int) -> None:
        if epoch != self.epoch:
            self.start = 0
        self.epoch = epoch

    def _rank(self) -> tuple[int, int]:
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            return torch.distributed.get_rank(), torch.distributed.get_world_size()
        return 0, 1

    def indices(self) -> list[int]:
        order = (torch.randperm(self.n, generator=torch.Generator().manual_seed(self.seed * 100003 + self.epoch))
                 if self.shuffle else torch.arange(self.n)).tolist()
        rank, world = self._rank()
        per = -(-self.n // world)
        order = (order * world)[: per * world]  # pad by repetition so every rank has as many
        return order[rank::world]

    def __iter__(self):
        idx = self.indices()[self.start :]
        self.start = 0
        return iter(idx)

    def __len__(self) -> int:
        return len(self.indices())


class ResumableLoader(DataLoader):
    """A DataLoader over an `EpochPermutationSampler`; `HandDataModule` sets its position on resume."""

    def __init__(self, dataset: Dataset, batch_size: int, seed: int = 0, shuffle: bool = True, **kwargs) -> None:
        self.position_sampler = EpochPermutationSampler(len(dataset), seed, shuffle)
        super().__init__(dataset, batch_size=batch_size, sampler=self.position_sampler, **kwargs)

    def state_dict(self) -> dict:
        """Empty: the position is stored by `HandDataModule` (this loader runs a batch ahead of training)."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass

    def set_position(self, epoch: int, batches: int) -> None:
        """Start the epoch `epoch` after its first `batches` batches."""
        self.position_sampler.epoch = int(epoch)
        self.position_sampler.start = int(batches) * self.batch_size


def dataset_label(cfg: DatasetConfig) -> str:
    return f"{cfg.name}_{cfg.split}"


class HandDataModule(pl.LightningDataModule):
    """Training and validation crops of the recipe's datasets."""

    def __init__(self, cfg: DataConfig, crop_size: int = 224, seed: int = 0) -> None:
        super().__init__()
        self.cfg, self.crop_size, self.seed = cfg, crop_size, seed
        self.train_set: Dataset | None = None
        self.val_sets: list[Dataset] = []
        self.val_names = [dataset_label(v) for v in cfg.val]
        self._resume_position: tuple[int, int] | None = None

    def state_dict(self) -> dict[str, int]:
        """The training data position, stored in every checkpoint: the epoch and the batches of it that
        training has processed (the loader itself runs a batch ahead, so it cannot tell)."""
        t = self.trainer
        if t is None:
            return {}
        return {"epoch": int(t.current_epoch), "batches": int(t.fit_loop.epoch_loop.batch_progress.current.processed)}

    def load_state_dict(self, state: dict[str, int]) -> None:
        if state:
            self._resume_position = (int(state["epoch"]), int(state["batches"]))

    def _crops(self, ds_cfg: DatasetConfig, train: bool) -> Dataset:
        ds = open_dataset(ds_cfg)
        if getattr(getattr(ds, "dataset", ds), "yields_tensors", False):  # one-slot tensors already (no image)
            return ds
        return HandCropDataset(ds, self.crop_size, self.cfg.crop_scale,
                               self.cfg.crop_jitter if train else 0.0, self.seed, self.cfg.cache,
                               min(self.cfg.mask_size, self.crop_size))

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is None and stage in (None, "fit"):
            self.train_set = self._crops(self.cfg.train, True)
        if not self.val_sets and stage in (None, "fit", "validate"):
            self.val_sets = [self._crops(v, False) for v in self.cfg.val]

    def _kwargs(self) -> dict[str, Any]:
        w = self.cfg.num_workers
        return {"num_workers": w, "collate_fn": collate, "persistent_workers": w > 0}

    def train_dataloader(self) -> DataLoader:
        loader = ResumableLoader(self.train_set, self.cfg.batch_size, self.seed, self.cfg.shuffle, drop_last=True,
                                 **self._kwargs())
        if self._resume_position is not None:
            loader.set_position(*self._resume_position)
            self._resume_position = None
        return loader

    def val_dataloader(self) -> list[DataLoader]:
        bs = self.cfg.val_batch_size or self.cfg.batch_size
        return [DataLoader(v, batch_size=bs, shuffle=False, **self._kwargs()) for v in self.val_sets]
