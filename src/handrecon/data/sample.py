"""The one sample schema that every reader returns (datasets, synthetic sets, devdata, pseudo-labels).

A reader's `__getitem__` returns a `Sample` (numpy, variable number of hands, any image size). Transforms
(crops, augmentation: `handrecon.data.augment`) map a `Sample` to a `Sample`. For batching,
`Sample.to_tensors` pads the hands to a fixed number of slots and `collate_samples` (a DataLoader
`collate_fn`) stacks them; `Sample.from_tensors` inverts `to_tensors`.

Conventions (DESIGN.md; dataset-side conversions in `handrecon.data.conventions`):

- `image` (H, W, 3) uint8 RGB; `K` (3, 3) intrinsics *of this image* (a crop carries its own K); a source
  without intrinsics (2D-only photo sets) gets the nominal K of handrecon's default field of view
  (`handrecon.io.exif_camera.DEFAULT_FOV_DEG`) and `K_known` False;
- pixels in continuous coordinates: the image's top-left corner at (0, 0), pixel centres at +0.5;
- 3D in the camera frame of `K`, OpenCV axes (x right, y down, z forward), metres;
- keypoints in OpenPose-21 order (wrist; thumb CMC..tip; index, middle, ring, pinky MCP..tip);
- hand-model parameters as the inputs of the named model (`hand_model`: "openhand" or "mano", as the
  dataset gives them): axis-angle `global_orient` (3,), `hand_pose` (15, 3) relative to the model's pose
  mean, `betas` (S <= 10,), `transl` (3,) (see `handrecon.hand.params.HandParams`);
- `mask` (H, W) uint8 hand segmentation: 0 background, k + 1 the hand in slot k, `MASK_ANY_HAND` (255) a
  hand pixel whose hand the dataset does not say (a union mask of several hands).

What a split lacks is absent (None) in a `HandLabel` and a False `has_*` / validity flag in the tensors:
e.g. HO3D's evaluation split gives only the root joint (joints_3d_valid true for the wrist alone) and a box.

Tensor form (`to_tensors`, M = max_hands slots; absent slots and values are zeros with a False flag):

    image (3, H, W) uint8          K (3, 3) float32, has_K () bool    mask (H, W) uint8, has_mask () bool
    hand_valid (M,) bool           side (M,) int64: 0 right, 1 left, -1 absent slot
    keypoints_2d (M, 21, 3) float32: x, y, confidence (visibility 0/1 for labels, a detector's score for
                                   pseudo-labels; 0 = unknown or not labelled)
    has_keypoints_2d (M,) bool     joints_3d (M, 21, 3) float32, joints_3d_valid (M, 21) bool
    global_orient (M, 3), hand_pose (M, 15, 3), betas (M, 10), transl (M, 3) float32
    has_pose, has_betas, has_transl (M,) bool, hand_model (M,) int64: index into HAND_MODELS, -1 none
    box (M, 4) float32 x0, y0, x1, y1 pixels, has_box (M,) bool
    source, sample_id: str (lists after collation)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from handrecon.hand.params import HandParams
from handrecon.io.exif_camera import DEFAULT_FOV_DEG

SIDES: tuple[str, ...] = ("right", "left")
HAND_MODELS: tuple[str, ...] = ("openhand", "mano")
MAX_HANDS = 2
NUM_BETAS = 10
NUM_KEYPOINTS = 21
MASK_BACKGROUND = 0
MASK_ANY_HAND = 255

HAND_KEYS: tuple[str, ...] = (
    "hand_valid", "side", "keypoints_2d", "has_keypoints_2d", "joints_3d", "joints_3d_valid", "global_orient",
    "hand_pose", "betas", "has_pose", "has_betas", "has_transl", "transl", "hand_model", "box", "has_box",
)  # fmt: skip


def nominal_K(width: int, height: int) -> np.ndarray:
    """The intrinsics handrecon assumes for an image without any: DEFAULT_FOV_DEG along the longer side,
    principal point at the centre."""
    f = max(width, height) / (2 * math.tan(math.radians(DEFAULT_FOV_DEG) / 2))
    return np.array([[f, 0.0, width / 2], [0.0, f, height / 2], [0.0, 0.0, 1.0]])


def _arr(x: Any, shape: tuple[int, ...] | None, name: str, dtype=np.float64) -> np.ndarray | None:
    if x is None:
        return None
    a = np.asarray(x, dtype=dtype)
    if shape is not None and a.shape != shape:
        raise ValueError(f"{name}: expected shape {shape}, got {a.shape}")
    return a


@dataclass
class HandLabel:
    """The labels of one hand; None where the source does not give a value (see the module docstring)."""

    side: str  # "right" | "left"
    keypoints_2d: np.ndarray | None = None  # (21, 3) x, y (pixels), confidence / visibility in [0, 1]
    joints_3d: np.ndarray | None = None  # (21, 3) metres, camera frame of the sample's K
    joints_3d_valid: np.ndarray | None = None  # (21,) bool; None with joints_3d given = all valid
    hand_model: str | None = None  # "openhand" | "mano": the model the parameters below belong to
    global_orient: np.ndarray | None = None  # (3,) axis-angle
    hand_pose: np.ndarray | None = None  # (15, 3) axis-angle, relative to the model's pose mean
    betas: np.ndarray | None = None  # (S,), S <= 10
    transl: np.ndarray | None = None  # (3,) metres
    box: np.ndarray | None = None  # (4,) x0, y0, x1, y1 pixels

    def __post_init__(self) -> None:
        if self.side not in SIDES:
            raise ValueError(f"side must be one of {SIDES}, got {self.side!r}")
        if self.hand_model is not None and self.hand_model not in HAND_MODELS:
            raise ValueError(f"hand_model must be one of {HAND_MODELS}, got {self.hand_model!r}")
        self.keypoints_2d = _arr(self.keypoints_2d, (NUM_KEYPOINTS, 3), "keypoints_2d")
        self.joints_3d = _arr(self.joints_3d, (NUM_KEYPOINTS, 3), "joints_3d")
        self.joints_3d_valid = _arr(self.joints_3d_valid, (NUM_KEYPOINTS,), "joints_3d_valid", bool)
        if self.joints_3d is not None and self.joints_3d_valid is None:
            self.joints_3d_valid = np.ones(NUM_KEYPOINTS, bool)
        self.global_orient = _arr(self.global_orient, (3,), "global_orient")
        self.hand_pose = _arr(self.hand_pose, None, "hand_pose")
        if self.hand_pose is not None:
            self.hand_pose = self.hand_pose.reshape(15, 3)
        self.betas = _arr(self.betas, None, "betas")
        if self.betas is not None and (self.betas.ndim != 1 or self.betas.size > NUM_BETAS):
            raise ValueError(f"betas: expected (S,) with S <= {NUM_BETAS}, got {self.betas.shape}")
        self.transl = _arr(self.transl, (3,), "transl")
        self.box = _arr(self.box, (4,), "box")
        if (self.global_orient is None) != (self.hand_pose is None):
            raise ValueError("global_orient and hand_pose come together (a pose is both)")
        if self.hand_model is None and any(x is not None for x in (self.global_orient, self.betas, self.transl)):
            raise ValueError("hand-model parameters need the name of their model (hand_model)")

    @property
    def has_pose(self) -> bool:
        return self.hand_pose is not None

    @property
    def params(self) -> HandParams | None:
        """The parameters as the one container (B = 1, float64; absent betas / transl as zeros), or None
        without a pose."""
        if not self.has_pose:
            return None
        return HandParams.from_numpy(
            self.global_orient,
            self.hand_pose,
            np.zeros(NUM_BETAS) if self.betas is None else self.betas,
            np.zeros(3) if self.transl is None else self.transl,
        )


@dataclass
class Sample:
    """One image and its hands (see the module docstring for every convention)."""

    image: np.ndarray  # (H, W, 3) uint8 RGB
    K: np.ndarray | None  # (3, 3) intrinsics of this image; None: the nominal K, K_known False
    hands: list[HandLabel] = field(default_factory=list)
    mask: np.ndarray | None = None  # (H, W) uint8: 0 background, k + 1 hand slot k, 255 a hand
    source: str = ""  # dataset name, e.g. "freihand"
    sample_id: str = ""  # the dataset's own id of the sample (file name, index)
    extras: dict[str, Any] = field(default_factory=dict)  # source-specific values (not batched)
    K_known: bool = True  # False: K is the nominal one (the source gives no intrinsics)

    def __post_init__(self) -> None:
        self.image = np.asarray(self.image)
        if self.image.ndim != 3 or self.image.shape[2] != 3 or self.image.dtype != np.uint8:
            raise ValueError(f"image: expected (H, W, 3) uint8, got {self.image.shape} {self.image.dtype}")
        if self.K is None:
            self.K, self.K_known = nominal_K(self.image.shape[1], self.image.shape[0]), False
        self.K = _arr(self.K, (3, 3), "K")
        if self.mask is not None:
            self.mask = np.asarray(self.mask, dtype=np.uint8)
            if self.mask.shape != self.image.shape[:2]:
                raise ValueError(f"mask: expected shape {self.image.shape[:2]}, got {self.mask.shape}")

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return int(self.image.shape[1]), int(self.image.shape[0])

    def hand_mask(self, slot: int) -> np.ndarray | None:
        """(H, W) bool pixels of the hand in `slot` (None without a mask)."""
        return None if self.mask is None else self.mask == slot + 1

    # -- tensors ---------------------------------------------------------------------------------
    def hand_arrays(self, max_hands: int = MAX_HANDS) -> dict[str, np.ndarray]:
        """The hands' part of `to_tensors` as numpy arrays (keys `HAND_KEYS`)."""
        if len(self.hands) > max_hands:
            raise ValueError(
                f"sample {self.source}:{self.sample_id} has {len(self.hands)} hands, more than max_hands={max_hands}"
            )
        M = max_hands
        f32 = np.float32
        out = {
            "hand_valid": np.zeros(M, bool),
            "side": np.full(M, -1, np.int64),
            "keypoints_2d": np.zeros((M, NUM_KEYPOINTS, 3), f32),
            "has_keypoints_2d": np.zeros(M, bool),
            "joints_3d": np.zeros((M, NUM_KEYPOINTS, 3), f32),
            "joints_3d_valid": np.zeros((M, NUM_KEYPOINTS), bool),
            "global_orient": np.zeros((M, 3), f32),
            "hand_pose": np.zeros((M, 15, 3), f32),
            "betas": np.zeros((M, NUM_BETAS), f32),
            "transl": np.zeros((M, 3), f32),
            "has_pose": np.zeros(M, bool),
            "has_betas": np.zeros(M, bool),
            "has_transl": np.zeros(M, bool),
            "hand_model": np.full(M, -1, np.int64),
            "box": np.zeros((M, 4), f32),
            "has_box": np.zeros(M, bool),
        }
        for k, h in enumerate(self.hands):
            out["hand_valid"][k] = True
            out["side"][k] = SIDES.index(h.side)
            if h.keypoints_2d is not None:
                out["keypoints_2d"][k], out["has_keypoints_2d"][k] = h.keypoints_2d, True
            if h.joints_3d is not None:
                out["joints_3d"][k], out["joints_3d_valid"][k] = h.joints_3d, h.joints_3d_valid
            if h.hand_model is not None:
                out["hand_model"][k] = HAND_MODELS.index(h.hand_model)
            if h.hand_pose is not None:
                out["global_orient"][k], out["hand_pose"][k], out["has_pose"][k] = h.global_orient, h.hand_pose, True
            if h.betas is not None:
                out["betas"][k, : h.betas.size], out["has_betas"][k] = h.betas, True
            if h.transl is not None:
                out["transl"][k], out["has_transl"][k] = h.transl, True
            if h.box is not None:
                out["box"][k], out["has_box"][k] = h.box, True
        return out

    def to_tensors(self, max_hands: int = MAX_HANDS) -> dict[str, Any]:
        """Fixed-shape tensors (see the module docstring); raises when the sample has more hands."""
        out = self.hand_arrays(max_hands)
        t: dict[str, Any] = {k: torch.from_numpy(v) for k, v in out.items()}
        t["image"] = torch.from_numpy(np.ascontiguousarray(self.image.transpose(2, 0, 1)))
        t["K"] = torch.from_numpy(self.K.astype(np.float32))
        t["has_K"] = torch.tensor(self.K_known)
        H, W = self.image.shape[:2]
        t["mask"] = torch.from_numpy(self.mask) if self.mask is not None else torch.zeros(H, W, dtype=torch.uint8)
        t["has_mask"] = torch.tensor(self.mask is not None)
        t["source"], t["sample_id"] = self.source, self.sample_id
        return t

    @classmethod
    def from_tensors(cls, t: dict[str, Any], index: int | None = None) -> Sample:
        """Invert `to_tensors` (of one sample, or of sample `index` of a collated batch); values come back in
        float64 from float32 storage."""

        def g(key: str) -> Any:
            v = t[key]
            if index is not None:
                v = v[index]
            return v.numpy() if isinstance(v, torch.Tensor) else v

        return cls(
            image=np.ascontiguousarray(g("image").transpose(1, 2, 0)),
            K=g("K"),
            hands=hands_from_arrays({k: g(k) for k in HAND_KEYS}),
            mask=g("mask") if bool(g("has_mask")) else None,
            source=g("source"),
            sample_id=g("sample_id"),
            K_known=bool(g("has_K")),
        )


def hands_from_arrays(a: dict[str, np.ndarray]) -> list[HandLabel]:
    """Invert `Sample.hand_arrays`: the hands of the valid slots."""
    hands = []
    for k in np.flatnonzero(a["hand_valid"]):
        model = int(a["hand_model"][k])
        has_pose, has_3d = a["has_pose"][k], a["joints_3d_valid"][k].any()
        hands.append(
            HandLabel(
                side=SIDES[int(a["side"][k])],
                keypoints_2d=a["keypoints_2d"][k] if a["has_keypoints_2d"][k] else None,
                joints_3d=a["joints_3d"][k] if has_3d else None,
                joints_3d_valid=a["joints_3d_valid"][k] if has_3d else None,
                hand_model=HAND_MODELS[model] if model >= 0 else None,
                global_orient=a["global_orient"][k] if has_pose else None,
                hand_pose=a["hand_pose"][k] if has_pose else None,
                betas=a["betas"][k] if a["has_betas"][k] else None,
                transl=a["transl"][k] if a["has_transl"][k] else None,
                box=a["box"][k] if a["has_box"][k] else None,
            )
        )
    return hands


def collate_samples(batch: Sequence[Sample | dict[str, Any]], max_hands: int = MAX_HANDS) -> dict[str, Any]:
    """DataLoader `collate_fn`: samples (or their `to_tensors` dicts) -> one batch dict (tensors stacked,
    strings as lists). Images must share one size (crop them first: `handrecon.data.augment`)."""
    if not batch:
        raise ValueError("cannot collate an empty batch")
    items = [b.to_tensors(max_hands) if isinstance(b, Sample) else b for b in batch]
    sizes = {tuple(it["image"].shape) for it in items}
    if len(sizes) > 1:
        raise ValueError(f"images of one batch must share a size, got {sorted(sizes)}: crop or resize them first")
    return torch.utils.data.default_collate(items)
