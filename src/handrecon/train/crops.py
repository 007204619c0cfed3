"""Square hand crops with their pixel mapping, for evaluation on labelled photos.

(The data package's crop and augmentation pipeline serves training; this is the small deterministic crop the
evaluation and the backbone checks need: a square around given 2D keypoints, resampled to a fixed size.)
Pixel coordinates are continuous (a pixel's centre at +0.5).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image


@dataclass
class Crop:
    image: np.ndarray  # (size, size, 3) uint8
    A: np.ndarray  # (3, 3) image pixels -> crop pixels
    K: np.ndarray | None  # (3, 3) intrinsics of the crop when the image's were given


def box_around(
    keypoints: np.ndarray, visible: np.ndarray | None = None, scale: float = 1.5
) -> tuple[float, float, float]:
    """(cx, cy, side) of the square `scale` times the keypoints' larger extent, centred on their box."""
    pts = keypoints[visible.astype(bool)] if visible is not None and visible.any() else keypoints
    lo, hi = pts.min(0), pts.max(0)
    c = (lo + hi) / 2
    return float(c[0]), float(c[1]), float(max(hi - lo) * scale)


def square_crop(
    image: np.ndarray, cx: float, cy: float, side: float, size: int = 224, K: np.ndarray | None = None,
    resample: int = Image.BILINEAR,
) -> Crop:
    """The square (cx, cy, side) of `image` resampled to size x size (bilinear by default; `Image.NEAREST` for
    label maps such as masks; 0 outside the image)."""
    if side <= 0:
        raise ValueError(f"crop side must be positive, got {side}")
    s = side / size
    x0, y0 = cx - side / 2, cy - side / 2
    out = Image.fromarray(image).transform((size, size), Image.AFFINE, (s, 0, x0, 0, s, y0), resample=resample)
    A = np.array([[1 / s, 0, -x0 / s], [0, 1 / s, -y0 / s], [0, 0, 1]])
    return Crop(np.asarray(out), A, None if K is None else A @ K)


def apply_homogeneous(A: np.ndarray, points: np.ndarray) -> np.ndarray:
    """2D points (N, 2) mapped by the 3x3 affine A."""
    return points @ A[:2, :2].T + A[:2, 2]
