"""Reader of folders in FreiHAND's on-disk layout: the real FreiHAND release and synthetic sets written by
`handrecon.synth.freihand.FreiHANDWriter` (which documents the layout and the synthetic sidecar)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

SIDECAR = "synth_annotations.npz"
META = "synth_meta.json"


class FreiHANDDataset(torch.utils.data.Dataset):
    """Reads a folder in FreiHAND's layout: the real FreiHAND release or a set written by `FreiHANDWriter`.

    Each item is a dict of numpy arrays: image (H, W, 3) uint8, mask (H, W) bool or None, xyz (21, 3),
    K (3, 3), uv (21, 2) (xyz projected with K), mano (61,), scale, index, plus `verts` (V, 3) when
    `load_vertices` and the file exists, and every per-sample field of the synthetic sidecar when present
    (`labels` (H, W) uint8 included). Files are read lazily per item; the JSON lists once, at first use.
    """

    def __init__(self, root: str | os.PathLike, split: str = "training", load_vertices: bool = False) -> None:
        self.root = Path(root)
        self.split = split
        self.load_vertices = load_vertices
        rgb = self.root / split / "rgb"
        if not rgb.is_dir():
            raise FileNotFoundError(f"{rgb}: not a FreiHAND-layout folder (no {split}/rgb)")
        self.images = sorted(rgb.glob("*.jpg"))
        if not self.images:
            raise FileNotFoundError(f"{rgb}: no images")
        self._lists: dict[str, list | None] = {}
        sidecar = self.root / SIDECAR
        self.sidecar: dict[str, np.ndarray] = {}
        if sidecar.is_file():
            with np.load(sidecar, allow_pickle=False) as z:
                self.sidecar = {k: z[k] for k in z.files}
        meta = self.root / META
        self.meta: dict = json.loads(meta.read_text()) if meta.is_file() else {}

    def _list(self, name: str) -> list | None:
        if name not in self._lists:
            path = self.root / f"{self.split}_{name}.json"
            self._lists[name] = json.loads(path.read_text()) if path.is_file() else None
        return self._lists[name]

    @property
    def num_annotations(self) -> int:
        xyz = self._list("xyz")
        return len(xyz) if xyz is not None else len(self.images)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> dict[str, Any]:
        if not 0 <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} images")
        path = self.images[i]
        with Image.open(path) as im:
            image = np.asarray(im.convert("RGB"))
        a = i % self.num_annotations
        item: dict[str, Any] = {"index": i, "annotation_index": a, "image": image, "path": str(path)}
        mask_path = self.root / self.split / "mask" / f"{a:08d}.jpg"
        item["mask"] = None
        if mask_path.is_file():
            with Image.open(mask_path) as im:
                item["mask"] = np.asarray(im.convert("L")) > 127
        for name in ("xyz", "K", "mano", "scale") + (("verts",) if self.load_vertices else ()):
            data = self._list(name)
            if data is not None:
                value = np.asarray(data[a], dtype=np.float64)
                item[name] = value.reshape(-1) if name == "mano" else value
        if "xyz" in item and "K" in item:
            p = item["xyz"] @ item["K"].T
            item["uv"] = p[:, :2] / p[:, 2:3]
        labels = self.root / self.split / "labels" / f"{a:08d}.png"
        if labels.is_file():
            with Image.open(labels) as im:
                item["labels"] = np.asarray(im)
        for k, v in self.sidecar.items():
            item[k if k not in item else f"synth_{k}"] = v[a]
        return item
