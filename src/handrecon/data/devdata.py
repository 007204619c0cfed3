"""Readers for the small labelled photo sets used by tests and benchmarks (read in place, never copied).

Layout (see the folder's README): `labeled/<set>/` with COCO-style 2D keypoint files (FreiHAND, OneHand10K,
Panoptic; OpenPose joint order) and InterHand2.6M with 3D labels and intrinsics.

Coordinates: handrecon uses continuous pixel coordinates (the top-left image corner is (0, 0), a pixel's
centre is at +0.5). The labels follow the pixel-index convention (a pixel's centre is an integer), so
0.5 is added to them, and to the principal point of the InterHand intrinsics.

`load_labelled` lists the labelled images (`LabelledImage`, light records: benchmarks need only paths and
labels); `LabelledImage.to_sample()` and `DevDataset` give them in the one sample schema.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from handrecon.data.sample import HandLabel, Sample
from handrecon.io.images import load_image

DEVDATA_ENV = "HANDRECON_DEVDATA"


@dataclass
class LabelledHand:
    keypoints: np.ndarray  # (21, 2) pixels, continuous convention
    visible: np.ndarray  # (21,) bool (labelled)
    side: str | None = None  # "right" | "left" when the set says so
    xyz: np.ndarray | None = None  # (21, 3) camera frame, metres

    def to_label(self) -> HandLabel:
        """The hand in the sample schema; a set that does not say the side gets "right" by convention with
        its keypoints kept (`LabelledImage.to_sample` records which sides are unknown)."""
        kp = np.concatenate([np.where(self.visible[:, None], self.keypoints, 0.0), self.visible[:, None]], 1)
        return HandLabel(
            side=self.side or "right",
            keypoints_2d=kp,
            joints_3d=self.xyz,
            joints_3d_valid=None if self.xyz is None else self.visible,
        )


@dataclass
class LabelledImage:
    path: Path
    dataset: str
    hands: list[LabelledHand] = field(default_factory=list)
    K: np.ndarray | None = None  # (3, 3), continuous convention

    def to_sample(self) -> Sample:
        """The image (read now) and its labels in the sample schema. Sets without intrinsics get the nominal
        K (`K_known` False); extras["side_known"] (n,) bool says which hands' sides the set gives."""
        image = load_image(self.path).rgb
        extras = {"side_known": np.array([h.side is not None for h in self.hands]), "path": str(self.path)}
        hands = [h.to_label() for h in self.hands]
        return Sample(image, self.K, hands, None, self.dataset, self.path.name, extras)


def default_devdata_dir() -> Path | None:
    """../shared/devdata beside the repository (or $HANDRECON_DEVDATA), if present."""
    import os

    env = os.environ.get(DEVDATA_ENV)
    candidates = [Path(env)] if env else []
    here = Path(__file__).resolve()
    candidates += [p / "shared" / "devdata" for p in here.parents]
    candidates += [Path.cwd().parent / "shared" / "devdata"]
    return next((c for c in candidates if (c / "labeled").is_dir()), None)


def _coco(folder: Path, json_name: str, dataset: str) -> list[LabelledImage]:
    data = json.loads((folder / json_name).read_text())
    images = {im["id"]: im for im in data["images"]}
    out: dict[str, LabelledImage] = {}
    for ann in data["annotations"]:
        im = images[ann["image_id"]]
        kp = np.asarray(ann["keypoints"], dtype=np.float64).reshape(21, 3)
        vis = kp[:, 2] > 0
        item = out.setdefault(im["file_name"], LabelledImage(folder / im["file_name"], dataset))
        item.hands.append(LabelledHand(keypoints=kp[:, :2] + 0.5, visible=vis))
    return list(out.values())


def _panoptic(folder: Path) -> list[LabelledImage]:
    """The `_l` / `_r` files are one image annotated once per hand: merged into one image with both hands."""
    items = _coco(folder, "test_panoptic.json", "panoptic")
    merged: dict[str, LabelledImage] = {}
    for it in items:
        stem = it.path.stem
        base, side = stem[:-2], {"l": "left", "r": "right"}[stem[-1]]
        for h in it.hands:
            h.side = side
        target = merged.setdefault(base, LabelledImage(it.path, "panoptic"))
        target.hands.extend(it.hands)
    return list(merged.values())


def _interhand(folder: Path) -> list[LabelledImage]:
    data = json.loads((folder / "annotations_freihand_order.json").read_text())
    out = []
    for s in data["samples"]:
        K = np.asarray(s["K"], dtype=np.float64)
        K[0, 2] += 0.5
        K[1, 2] += 0.5
        item = LabelledImage(folder / s["image"], "interhand2.6m", K=K)
        for side, h in s["hands"].items():
            valid = np.asarray(h.get("valid", [1] * 21), dtype=bool).reshape(-1)
            item.hands.append(
                LabelledHand(
                    keypoints=np.asarray(h["uv_px"], dtype=np.float64) + 0.5,
                    visible=valid,
                    side=side,
                    xyz=np.asarray(h["xyz_m"], dtype=np.float64),
                )
            )
        out.append(item)
    return out


def load_labelled(root: Path | None = None) -> list[LabelledImage]:
    """Every labelled image of the dev set; [] when the folder is absent."""
    root = root or default_devdata_dir()
    if root is None:
        return []
    lab = root / "labeled"
    items: list[LabelledImage] = []
    if (lab / "freihand").is_dir():
        items += _coco(lab / "freihand", "test_freihand.json", "freihand")
    if (lab / "onehand10k").is_dir():
        items += _coco(lab / "onehand10k", "test_onehand10k.json", "onehand10k")
    if (lab / "panoptic").is_dir():
        items += _panoptic(lab / "panoptic")
    if (lab / "interhand2.6m").is_dir():
        items += _interhand(lab / "interhand2.6m")
    return items


class DevDataset(torch.utils.data.Dataset):
    """The labelled dev images (all sets, or the `sets` named) as `Sample`s, read when indexed."""

    def __init__(self, root: Path | None = None, sets: tuple[str, ...] | None = None) -> None:
        self.items = [it for it in load_labelled(root) if sets is None or it.dataset in sets]
        if not self.items:
            raise FileNotFoundError(f"no labelled dev images found (root {root or default_devdata_dir()})")

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> Sample:
        return self.items[i].to_sample()


def unlabelled_photos(root: Path | None = None) -> list[Path]:
    root = root or default_devdata_dir()
    return sorted((root / "photos_hamer").glob("*.jpg")) if root else []


def open_devdata(root=None, split: str = "all", **options) -> DevDataset:
    """`open_dataset("devdata", root, split)`: split "all" or one set ("freihand", "onehand10k", "panoptic",
    "interhand2.6m"); root is the devdata folder (found beside the repository when None)."""
    sets = None if split in ("all", "train", "test") else (split,)
    return DevDataset(None if root is None else Path(root), sets)
