"""Reader of folders in FreiHAND's on-disk layout: the real FreiHAND release and synthetic sets written by
`handrecon.data.freihand_writer.FreiHANDWriter` (which documents the layout and the synthetic sidecar).

`FreiHANDDataset[i]` is a `Sample` (the one schema); `FreiHANDDataset.raw(i)` the files' own values.
FreiHAND's labels: the 3D joints (OpenPose order, metres, OpenCV camera), K, MANO parameters as the flat
61-vector (`handrecon.data.conventions.unpack_mano_vector`), a mask of the (right) hand. Its 2D keypoints
are the joints projected with K (continuous pixel coordinates: FreiHAND's K projects onto them).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from handrecon.data.conventions import unpack_mano_vector
from handrecon.data.sample import SIDES, HandLabel, Sample

SIDECAR = "synth_annotations.npz"
META = "synth_meta.json"


class FreiHANDDataset(torch.utils.data.Dataset):
    """Reads a folder in FreiHAND's layout: the real FreiHAND release or a set written by `FreiHANDWriter`.

    Each item is a `Sample`: FreiHAND's right hand with its MANO parameters, or the hands of a synthetic set
    (both slots of its sidecar, parameters of the set's model, exact per-hand masks from its label images).
    `source` is "freihand" for FreiHAND, "synthetic" for a set with a sidecar.

    `raw(i)` is a dict of numpy arrays: image (H, W, 3) uint8, mask (H, W) bool or None, xyz (21, 3),
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

    def __getitem__(self, i: int) -> Sample:
        return self.to_sample(self.raw(i))

    def to_sample(self, item: dict[str, Any]) -> Sample:
        """A `raw` item in the sample schema."""
        image, K = item["image"], item.get("K")
        if K is None:
            raise ValueError(f"{item['path']}: no intrinsics (no {self.split}_K.json): not usable as a sample")
        synthetic = "side" in item and "joints3d" in item
        sample_id = Path(item["path"]).stem
        if not synthetic:
            hand = HandLabel(side="right")
            if "xyz" in item:
                hand.keypoints_2d = np.concatenate([item["uv"], np.ones((21, 1))], 1)
                hand.joints_3d, hand.joints_3d_valid = item["xyz"], np.ones(21, bool)
            if "mano" in item:
                p = unpack_mano_vector(item["mano"]).numpy(0)
                hand.hand_model = "mano"
                hand.global_orient, hand.hand_pose, hand.betas, hand.transl = (
                    p["global_orient"], p["hand_pose"], p["betas"], p["transl"])  # fmt: skip
            mask = None if item["mask"] is None else item["mask"].astype(np.uint8)
            return Sample(image, K, [hand], mask, "freihand", sample_id)
        model = self.meta.get("model", "openhand")
        hands, mask = [], None
        labels = item.get("labels")
        if labels is not None:
            mask = np.zeros(labels.shape, np.uint8)
        elif item["mask"] is not None:
            mask = np.where(item["mask"], 255, 0).astype(np.uint8)  # a union of the hands
        for k, side in enumerate(item["side"]):
            if side < 0:
                continue
            p = unpack_mano_vector(item["mano_params"][k]).numpy(0)
            if labels is not None:
                mask[labels == k + 1] = len(hands) + 1  # label codes: 1 primary hand, 2 second hand
            hands.append(
                HandLabel(
                    side=SIDES[int(side)],
                    keypoints_2d=np.concatenate([item["joints2d"][k], np.ones((21, 1))], 1),
                    joints_3d=item["joints3d"][k],
                    hand_model=model,
                    global_orient=p["global_orient"],
                    hand_pose=p["hand_pose"],
                    betas=p["betas"],
                    transl=p["transl"],
                )
            )
        extras = {k: item[k] for k in ("occlusion", "detections", "confidence", "category") if k in item}
        return Sample(image, K, hands, mask, "synthetic", sample_id, extras)

    def raw(self, i: int) -> dict[str, Any]:
        """Sample i as the files hold it (see the class docstring)."""
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


SPLITS = {"train": "training", "training": "training", "test": "evaluation", "eval": "evaluation",
          "evaluation": "evaluation"}  # fmt: skip


def open_freihand(root, split: str = "train", **options) -> FreiHANDDataset:
    """`open_dataset("freihand", root, split)`: "train" / "training" or "test" / "evaluation" (options:
    `load_vertices`)."""
    if root is None:
        raise ValueError("freihand: the folder of the release is needed (root)")
    if split not in SPLITS:
        raise ValueError(f"freihand split must be one of {sorted(SPLITS)}, got {split!r}")
    return FreiHANDDataset(root, SPLITS[split], **options)
