"""Keypoint conventions: MANO-16, MANO-21 and OpenPose-21, their conversions and bone tables.

One module owns every ordering so that the rest of the code never hard-codes an index list.

- MANO-16: wrist; index, middle, pinky, ring, thumb (3 joints each, proximal to distal).
- MANO-21: MANO-16 followed by the fingertips thumb, index, middle, ring, pinky.
- OpenPose-21 (= FreiHAND = MediaPipe): wrist; thumb CMC, MCP, IP, tip; index MCP, PIP, DIP, tip;
  middle; ring; pinky.
"""

from __future__ import annotations

from typing import Literal

import torch

KeypointOrder = Literal["openpose", "mano"]

FINGERS: tuple[str, ...] = ("thumb", "index", "middle", "ring", "pinky")

# ---------------------------------------------------------------------------------------------
# MANO-16 / MANO-21
MANO16_NAMES: tuple[str, ...] = (
    "wrist",
    "index1", "index2", "index3",
    "middle1", "middle2", "middle3",
    "pinky1", "pinky2", "pinky3",
    "ring1", "ring2", "ring3",
    "thumb1", "thumb2", "thumb3",
)  # fmt: skip
MANO16_PARENTS: tuple[int, ...] = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 0, 10, 11, 0, 13, 14)
MANO21_NAMES: tuple[str, ...] = MANO16_NAMES + ("thumb4", "index4", "middle4", "ring4", "pinky4")
MANO21_PARENTS: tuple[int, ...] = MANO16_PARENTS + (15, 3, 6, 12, 9)

# The 15 articulated MANO joints (all but the wrist), grouped by finger in FINGERS order.
MANO16_FINGER_JOINTS: dict[str, tuple[int, int, int]] = {
    "thumb": (13, 14, 15),
    "index": (1, 2, 3),
    "middle": (4, 5, 6),
    "ring": (10, 11, 12),
    "pinky": (7, 8, 9),
}
# Fingertip keypoint of each finger in MANO-21 (the tips' order, also that of a model's tip vertices).
MANO21_TIPS: dict[str, int] = {"thumb": 16, "index": 17, "middle": 18, "ring": 19, "pinky": 20}
# MANO-21 point at which each MANO-16 joint's distal bone ends: its first child joint, or the finger's tip
# for the last joint of a finger (the wrist's first child is the index MCP).
MANO16_CHILD_POINT: tuple[int, ...] = tuple(
    next(
        (c for c, p in enumerate(MANO16_PARENTS) if p == j),
        next((MANO21_TIPS[f] for f, js in MANO16_FINGER_JOINTS.items() if js[-1] == j), -1),
    )
    for j in range(16)
)

# ---------------------------------------------------------------------------------------------
# OpenPose-21
OPENPOSE_NAMES: tuple[str, ...] = (
    "wrist",
    "thumb_cmc", "thumb_mcp", "thumb_ip", "thumb_tip",
    "index_mcp", "index_pip", "index_dip", "index_tip",
    "middle_mcp", "middle_pip", "middle_dip", "middle_tip",
    "ring_mcp", "ring_pip", "ring_dip", "ring_tip",
    "pinky_mcp", "pinky_pip", "pinky_dip", "pinky_tip",
)  # fmt: skip
OPENPOSE_PARENTS: tuple[int, ...] = (-1, 0, 1, 2, 3, 0, 5, 6, 7, 0, 9, 10, 11, 0, 13, 14, 15, 0, 17, 18, 19)

# The HO3D scale reference bone, wrist -> middle-finger MCP, in OpenPose-21 order (0, 9).
WRIST_TO_MIDDLE_MCP: tuple[int, int] = (OPENPOSE_NAMES.index("wrist"), OPENPOSE_NAMES.index("middle_mcp"))

# openpose[i] = mano21[MANO21_TO_OPENPOSE[i]]
MANO21_TO_OPENPOSE: tuple[int, ...] = (0, 13, 14, 15, 16, 1, 2, 3, 17, 4, 5, 6, 18, 10, 11, 12, 19, 7, 8, 9, 20)
# mano21[i] = openpose[OPENPOSE_TO_MANO21[i]]
OPENPOSE_TO_MANO21: tuple[int, ...] = tuple(MANO21_TO_OPENPOSE.index(i) for i in range(21))

# Finger of each OpenPose keypoint (wrist = -1) and per-finger OpenPose indices (base to tip).
OPENPOSE_FINGER_OF: tuple[int, ...] = (-1,) + tuple(f for f in range(5) for _ in range(4))
OPENPOSE_FINGER_JOINTS: dict[str, tuple[int, int, int, int]] = {
    name: tuple(range(1 + 4 * f, 5 + 4 * f))
    for f, name in enumerate(FINGERS)  # type: ignore[misc]
}

# 20 bones of the OpenPose skeleton as (parent, child) pairs, ordered by child index.
OPENPOSE_BONES: tuple[tuple[int, int], ...] = tuple((OPENPOSE_PARENTS[c], c) for c in range(1, 21))

# One RGB colour per finger (thumb, index, middle, ring, pinky) for overlays, as in the
# knowledge-prior paper's figures: black, yellow, green, blue, magenta.
FINGER_COLORS: tuple[tuple[int, int, int], ...] = (
    (20, 20, 20),
    (235, 200, 0),
    (0, 180, 60),
    (30, 90, 235),
    (215, 0, 215),
)
WRIST_COLOR: tuple[int, int, int] = (230, 230, 230)

ORDERS: dict[str, tuple[str, ...]] = {"openpose": OPENPOSE_NAMES, "mano": MANO21_NAMES}


def _perm(src: str, dst: str) -> tuple[int, ...]:
    if src not in ORDERS or dst not in ORDERS:
        raise ValueError(f"unknown keypoint order {src!r} or {dst!r}; expected one of {sorted(ORDERS)}")
    if src == dst:
        return tuple(range(21))
    return MANO21_TO_OPENPOSE if (src, dst) == ("mano", "openpose") else OPENPOSE_TO_MANO21


def convert_keypoints(x: torch.Tensor, src: str, dst: str, dim: int = -2) -> torch.Tensor:
    """Reorder 21 keypoints along `dim` from order `src` to order `dst` ('openpose' or 'mano')."""
    if x.shape[dim] != 21:
        raise ValueError(f"expected 21 keypoints along dim {dim}, got shape {tuple(x.shape)}")
    idx = torch.as_tensor(_perm(src, dst), device=x.device)
    return x.index_select(dim, idx)


def mano_to_openpose(x: torch.Tensor, dim: int = -2) -> torch.Tensor:
    """MANO-21 -> OpenPose-21 along `dim`."""
    return convert_keypoints(x, "mano", "openpose", dim)


def openpose_to_mano(x: torch.Tensor, dim: int = -2) -> torch.Tensor:
    """OpenPose-21 -> MANO-21 along `dim`."""
    return convert_keypoints(x, "openpose", "mano", dim)


def parents(order: str = "openpose") -> tuple[int, ...]:
    """Parent index of each of the 21 keypoints in `order` (-1 for the wrist)."""
    return {"openpose": OPENPOSE_PARENTS, "mano": MANO21_PARENTS}[order]


def bones(order: str = "openpose") -> tuple[tuple[int, int], ...]:
    """The 20 bones as (parent, child) keypoint index pairs in `order`."""
    par = parents(order)
    return tuple((par[c], c) for c in range(21) if par[c] >= 0)


def bone_vectors(joints: torch.Tensor, order: str = "openpose") -> torch.Tensor:
    """(..., 21, D) keypoints -> (..., 20, D) child-minus-parent vectors, in `bones(order)` order."""
    b = bones(order)
    p = torch.as_tensor([i for i, _ in b], device=joints.device)
    c = torch.as_tensor([j for _, j in b], device=joints.device)
    return joints.index_select(-2, c) - joints.index_select(-2, p)
