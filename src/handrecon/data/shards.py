"""WebDataset tar shards of samples: packing any reader's output, reading it back as a stream.

One sample is one group of tar members sharing a key (`<source>_<index>`, 9 digits):

    <key>.jpg | <key>.png   the image (JPEG at the given quality, or lossless PNG)
    <key>.mask.png          the hand segmentation when the sample has one (codes as `Sample.mask`)
    <key>.hands.bin         the hand labels in the array form of `Sample.hand_arrays` (one slot per hand,
                            float32) and K in float64, raw little-endian bytes one after the other
    <key>.json              source, sample id, whether K is known, image format, and the name, dtype
                            and shape of each array in hands.bin (raw bytes decode ~50x faster than npz)

`extras` are not stored (they are source-specific). Shards are named `<prefix>-%06d.tar`; a folder of
shards holds a `shards.json` index (counts, sources) written last, so a partial pack is recognisable.
Reading goes through `webdataset.WebDataset`, so any URL it supports works (local paths, `pipe:`, http).
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from handrecon.data.augment import AugmentConfig, Augmenter, sample_rng
from handrecon.data.sample import Sample, hands_from_arrays

INDEX_FILE = "shards.json"


def sample_key(source: str, index: int) -> str:
    """The shard key of a sample: no dots (WebDataset splits member names at the first dot)."""
    clean = "".join(c if c.isalnum() or c in "-_" else "-" for c in source) or "sample"
    return f"{clean}_{index:09d}"


def _encode_image(image: np.ndarray, fmt: str, quality: int) -> bytes:
    if fmt == "jpg":
        ok, buf = cv2.imencode(".jpg", image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    else:
        ok, buf = cv2.imencode(".png", image[..., ::-1] if image.ndim == 3 else image, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise ValueError(f"could not encode an image of shape {image.shape} as {fmt}")
    return buf.tobytes()


def _decode_image(data: bytes, colour: bool) -> np.ndarray:
    flag = cv2.IMREAD_COLOR if colour else cv2.IMREAD_UNCHANGED
    image = cv2.imdecode(np.frombuffer(data, np.uint8), flag)
    if image is None:
        raise ValueError("undecodable image in shard")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB) if colour else image


def encode_sample(sample: Sample, key: str, image_format: str = "jpg", quality: int = 95) -> dict[str, Any]:
    """The tar members of one sample (a WebDataset sample dict of bytes)."""
    if image_format not in ("jpg", "png"):
        raise ValueError(f"image_format must be 'jpg' or 'png', got {image_format!r}")
    arrays = sample.hand_arrays(max_hands=max(1, len(sample.hands)))
    arrays["K"] = np.asarray(sample.K, np.float64)
    layout = [[k, v.dtype.str, list(v.shape)] for k, v in arrays.items()]
    meta = {"source": sample.source, "sample_id": sample.sample_id, "K_known": sample.K_known, "image": image_format,
            "arrays": layout}  # fmt: skip
    out = {"__key__": key, image_format: _encode_image(sample.image, image_format, quality)}
    out["hands.bin"] = b"".join(np.ascontiguousarray(v).tobytes() for v in arrays.values())
    if sample.mask is not None:
        out["mask.png"] = _encode_image(sample.mask, "png", 0)
    out["json"] = json.dumps(meta).encode("utf-8")
    return out


def decode_sample(item: dict[str, Any]) -> Sample:
    """A WebDataset sample dict (raw bytes per member) -> `Sample`."""
    meta = json.loads(item["json"])
    raw, arrays, at = item["hands.bin"], {}, 0
    for name, dtype, shape in meta["arrays"]:
        dt = np.dtype(dtype)
        n = int(np.prod(shape)) * dt.itemsize
        arrays[name] = np.frombuffer(raw, dt, count=n // dt.itemsize, offset=at).reshape(shape)
        at += n
    mask = item.get("mask.png")
    return Sample(
        image=_decode_image(item[meta["image"]], True),
        K=arrays["K"],
        hands=hands_from_arrays(arrays),
        mask=_decode_image(mask, False) if mask is not None else None,
        source=meta["source"],
        sample_id=meta["sample_id"],
        K_known=meta["K_known"],
    )


def write_shards(
    samples: Iterable[Sample],
    out: str | os.PathLike,
    prefix: str = "shard",
    samples_per_shard: int = 1000,
    image_format: str = "jpg",
    quality: int = 95,
    keys: Iterable[str] | None = None,
) -> dict[str, Any]:
    """Pack samples into `out`/<prefix>-%06d.tar and write the index `shards.json`; returns the index.
    Keys default to `sample_key(source, running number)`."""
    import webdataset as wds

    if samples_per_shard <= 0:
        raise ValueError(f"samples_per_shard must be positive, got {samples_per_shard}")
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    if (root / INDEX_FILE).exists():
        raise FileExistsError(f"{root}: already holds shards ({INDEX_FILE})")
    key_iter = iter(keys) if keys is not None else None
    counts: dict[str, int] = {}
    shards: list[dict[str, Any]] = []
    writer, n = None, 0
    try:
        for sample in samples:
            if n % samples_per_shard == 0:
                if writer is not None:
                    writer.close()
                name = f"{prefix}-{len(shards):06d}.tar"
                shards.append({"name": name, "count": 0})
                writer = wds.TarWriter(str(root / name))
            key = next(key_iter) if key_iter is not None else sample_key(sample.source, n)
            writer.write(encode_sample(sample, key, image_format, quality))
            shards[-1]["count"] += 1
            counts[sample.source] = counts.get(sample.source, 0) + 1
            n += 1
    finally:
        if writer is not None:
            writer.close()
    index = {"format": "handrecon-shards-1", "count": n, "sources": counts, "shards": shards}
    tmp = root / f".{INDEX_FILE}.tmp"
    tmp.write_text(json.dumps(index, indent=1))
    os.replace(tmp, root / INDEX_FILE)
    return index


def shard_urls(root: str | os.PathLike) -> list[str]:
    """The shard files of a packed folder (from its index), or `root` itself when it is a URL / brace pattern."""
    p = Path(root)
    if (p / INDEX_FILE).is_file():
        index = json.loads((p / INDEX_FILE).read_text())
        return [str(p / s["name"]) for s in index["shards"]]
    if p.is_dir():
        found = sorted(str(x) for x in p.glob("*.tar"))
        if not found:
            raise FileNotFoundError(f"{p}: no shards (*.tar) and no {INDEX_FILE}")
        return found
    return [str(root)]


class ShardDataset(torch.utils.data.IterableDataset):
    """Samples streamed from shards, augmented per sample by `sample_rng(seed, epoch, key)`.

    Shards are split between DataLoader workers (and nodes with `split_by_node`); `shuffle` > 0 shuffles
    the shard order per epoch and samples in a buffer of that size (seeded by seed and epoch). A sample's
    augmentation depends on its key only, whichever worker reads it."""

    def __init__(
        self,
        urls: str | os.PathLike | list[str],
        augment: Augmenter | AugmentConfig | None = None,
        seed: int = 0,
        shuffle: int = 0,
        split_by_node: bool = False,
    ) -> None:
        self.urls = list(urls) if isinstance(urls, list) else shard_urls(urls)
        index = None if isinstance(urls, list) else Path(urls) / INDEX_FILE
        # number of samples when the folder's index says (a stream has no len())
        self.count: int | None = json.loads(index.read_text())["count"] if index and index.is_file() else None
        self.augment = augment if isinstance(augment, Augmenter) or augment is None else Augmenter(augment)
        self.seed = seed
        self.shuffle = shuffle
        self.split_by_node = split_by_node
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def _pipeline(self):
        import webdataset as wds

        urls = list(self.urls)
        if self.shuffle:
            np.random.default_rng([self.seed, self.epoch]).shuffle(urls)
        ds = wds.WebDataset(
            urls,
            shardshuffle=False,
            nodesplitter=wds.split_by_node if self.split_by_node else wds.single_node_only,
            workersplitter=wds.split_by_worker,
            empty_check=False,
        )
        if self.shuffle:
            ds = ds.shuffle(self.shuffle, rng=random.Random(self.seed * 1_000_003 + self.epoch))
        return ds

    def __iter__(self) -> Iterator[Sample]:
        for item in self._pipeline():
            sample = decode_sample(item)
            sample.extras["key"] = item["__key__"]
            if self.augment is not None:
                key = item["__key__"]
                sample = self.augment(sample, sample_rng(self.seed, self.epoch, key))
                sample.extras["key"] = key
            yield sample


def open_shards(root, split: str = "train", **options) -> ShardDataset:
    """`open_dataset("shards", root)`: a folder written by `handrecon data pack` (or shard URLs); `split`
    picks the sub-folder of that name when there is one. Options as `ShardDataset`."""
    p = Path(root)
    if (p / split / INDEX_FILE).is_file():
        root = p / split
    return ShardDataset(root, **options)
