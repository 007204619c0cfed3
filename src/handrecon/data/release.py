"""What the readers of the datasets' official releases share: the index-then-load Dataset, image and
label-file loading with one-line errors, projection, and the description `handrecon data info` prints.

A reader indexes its release once at construction (the annotation files, never the images) into a list
of records; `__getitem__` turns one record into a `Sample` (`handrecon.data.sample`), reading the image
lazily. Pixel coordinates: the releases' intrinsics and 2D labels are calibrated in the pixel-index
convention (OpenCV's: a pixel's centre at an integer), so their principal points and 2D labels are
shifted by +0.5 into handrecon's continuous convention (`conventions.pixel_index_to_continuous`).
"""

from __future__ import annotations

import json
import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from handrecon.io.errors import InputError


def read_rgb(path: str | os.PathLike) -> np.ndarray:
    """(H, W, 3) uint8 RGB of an image file (grey images, e.g. AssemblyHands' monochrome cameras,
    repeated on three channels)."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except FileNotFoundError:
        raise InputError(path, "image not found") from None
    except OSError as e:
        raise InputError(path, f"cannot read image ({e})") from None


def read_json(path: str | os.PathLike) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise InputError(path, "file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(path, f"not valid JSON ({e})") from None


def read_pickle(path: str | os.PathLike) -> Any:
    """A label pickle of a release (HO3D meta files were written by Python 2: latin1 decoding)."""
    try:
        with open(path, "rb") as f:
            return pickle.load(f, encoding="latin1")
    except FileNotFoundError:
        raise InputError(path, "file not found") from None
    except (pickle.UnpicklingError, EOFError, ValueError) as e:
        raise InputError(path, f"not a readable pickle ({e})") from None


def read_npy_dict(path: str | os.PathLike) -> dict:
    """A `.npy` file holding one pickled dict (ARCTIC's raw, processed and split files)."""
    try:
        return np.load(path, allow_pickle=True).item()
    except FileNotFoundError:
        raise InputError(path, "file not found") from None
    except (ValueError, OSError, pickle.UnpicklingError) as e:
        raise InputError(path, f"not a readable .npy dict ({e})") from None


def require_dir(path: Path, what: str) -> Path:
    if not path.is_dir():
        raise InputError(path, f"not found: expected {what}")
    return path


def shift_K(K: np.ndarray) -> np.ndarray:
    """Intrinsics calibrated in the pixel-index convention -> handrecon's continuous convention."""
    from handrecon.data.conventions import pixel_index_to_continuous

    K = np.array(K, dtype=np.float64).reshape(3, 3)
    K[:2, 2] = pixel_index_to_continuous(K[:2, 2])
    return K


def intrinsics(fx: float, fy: float, cx: float, cy: float) -> np.ndarray:
    return np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])


def project(points: np.ndarray, K: np.ndarray) -> np.ndarray:
    """(N, 3) camera-frame points -> (N, 2) pixels."""
    p = np.asarray(points, dtype=np.float64) @ np.asarray(K, dtype=np.float64).T
    z = p[:, 2:3]
    z = np.where(np.abs(z) < 1e-12, 1e-12, z)
    return p[:, :2] / z


def keypoints_with_confidence(uv: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """(21, 3) x, y, confidence (1 where labelled, 0 where not: the coordinates are then zero)."""
    v = np.asarray(valid, dtype=bool).reshape(-1)
    out = np.zeros((len(v), 3))
    out[v, :2] = np.asarray(uv, dtype=np.float64)[v]
    out[v, 2] = 1.0
    return out


def box_of(uv: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray | None:
    """Tight (x0, y0, x1, y1) box of the valid points; None when none is valid."""
    uv = np.asarray(uv, dtype=np.float64)
    if valid is not None:
        uv = uv[np.asarray(valid, dtype=bool)]
    if len(uv) == 0:
        return None
    return np.concatenate([uv.min(0), uv.max(0)])


@dataclass
class SplitInfo:
    """What one split of a release holds, for `handrecon data info`."""

    name: str
    samples: int | None  # None when the split's files are absent
    labels: list[str] = field(default_factory=list)
    note: str = ""


class ReleaseDataset(torch.utils.data.Dataset):
    """Base of the official-release readers: `records` built once, one `Sample` per record."""

    name: ClassVar[str] = ""
    splits: ClassVar[tuple[str, ...]] = ()
    # labels of each split, as `handrecon data info` names them (subclasses describe their release)
    split_labels: ClassVar[dict[str, list[str]]] = {}

    def __init__(self, root: str | os.PathLike, split: str, mano_dir: str | os.PathLike | None = None) -> None:
        from handrecon.data.mano_labels import MANOConverter

        self.root = Path(root).expanduser()
        if not self.root.is_dir():
            raise InputError(self.root, f"{self.name} release folder not found")
        if self.splits and split not in self.splits:
            raise InputError(self.root, f"unknown {self.name} split {split!r}; expected one of {list(self.splits)}")
        self.split = split
        self.mano = MANOConverter(mano_dir)
        self.records: list[Any] = []

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int):
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} {self.name} samples")
        return self.load(self.records[index])

    def load(self, record: Any):  # -> Sample
        raise NotImplementedError

    # -- shared label building -------------------------------------------------------------------
    def mano_fields(self, raw) -> dict[str, Any]:
        """HandLabel keyword arguments for one hand's MANO parameters: in handrecon's convention when no
        MANO file is needed or the user gave them, else none (the raw values stay in the extras)."""
        if raw is None or not self.mano.can_convert(raw):
            return {}
        return {"hand_model": "mano", **self.mano.convert(raw)}

    @classmethod
    def count(cls, root: Path, split: str, **options) -> int | None:
        """Number of samples of a split (None when its files are absent); the default builds the index."""
        try:
            return len(cls(root, split, **options))
        except InputError:
            return None

    @classmethod
    def describe(cls, root: str | os.PathLike, **options) -> list[SplitInfo]:
        root = Path(root).expanduser()
        return [SplitInfo(s, cls.count(root, s, **options), list(cls.split_labels.get(s, []))) for s in cls.splits]


def open_release(cls: type[ReleaseDataset], root, split: str, openhand_labels=None, **options):
    """What `open_dataset` calls for the official-release readers: the reader of `cls` at `root`, with
    the hands' parameters replaced by the cached openhand ones when `openhand_labels` (the cache written
    by `handrecon data convert-labels`) is given."""
    if root is None:
        from handrecon.data.roots import resolve_data_root

        root = resolve_data_root(cls.name)
    if root is None:
        raise InputError(
            None,
            f"{cls.name}: the folder of the release is needed (ROOT, HANDRECON_{cls.name.upper()}_ROOT, "
            "an entry in the datasets config or HANDRECON_DATA_ROOT)",
        )
    ds = cls(root, split, **options)
    if openhand_labels is not None:
        from handrecon.data.convert_labels import OpenhandLabels, WithOpenhandLabels

        ds = WithOpenhandLabels(ds, OpenhandLabels(openhand_labels))
    return ds
