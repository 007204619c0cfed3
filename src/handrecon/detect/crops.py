"""Rotated square crops of an image, and the exact mapping of crop coordinates back to the image.

Every model of the front end sees the image through one of these: the palm and pose detectors through an
axis-aligned square around an image region (the whole image or a tile; parts outside the image are black,
i.e. MediaPipe's letterbox), the hand- and pose-landmark models through a square turned so that the hand
(or body) points up. One affine map per crop serves both directions, so tiles map back exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RotatedRect:
    """A square-or-rectangular region: centre and size in pixels, `angle` in radians.

    The crop's up direction (-v) points along (sin angle, -cos angle) in the image (y down), so angle 0 is
    an upright crop and a hand whose fingers point right has angle pi/2.
    """

    cx: float
    cy: float
    width: float
    height: float
    angle: float = 0.0

    @classmethod
    def around(cls, x0: float, y0: float, x1: float, y1: float, square: bool = True) -> RotatedRect:
        """Axis-aligned rect over a box, made square on its longer side when `square` (a letterbox)."""
        w, h = x1 - x0, y1 - y0
        if square:
            w = h = max(w, h)
        return cls((x0 + x1) / 2, (y0 + y1) / 2, w, h, 0.0)

    @property
    def size(self) -> float:
        return max(self.width, self.height)

    def crop_to_image(self, out_w: int, out_h: int) -> np.ndarray:
        """2x3 affine matrix taking crop pixel coordinates (of an out_w x out_h crop) to image pixels."""
        c, s = math.cos(self.angle), math.sin(self.angle)
        sx, sy = self.width / out_w, self.height / out_h
        A = np.array([[c * sx, -s * sy], [s * sx, c * sy]])
        t = np.array([self.cx, self.cy]) - A @ np.array([out_w / 2, out_h / 2])
        return np.concatenate([A, t[:, None]], 1)

    def to_image(self, pts: np.ndarray, out_w: int, out_h: int) -> np.ndarray:
        """Crop pixel coordinates (..., 2) -> image pixels."""
        M = self.crop_to_image(out_w, out_h)
        return np.asarray(pts, dtype=np.float64) @ M[:, :2].T + M[:, 2]

    def to_crop(self, pts: np.ndarray, out_w: int, out_h: int) -> np.ndarray:
        """Image pixels (..., 2) -> crop pixel coordinates: the inverse of `crop_to_image` in closed form (turned
        back, unscaled; a general matrix inverse costs far more than the few points mapped per call)."""
        c, s = math.cos(self.angle), math.sin(self.angle)
        d = np.asarray(pts, dtype=np.float64) - np.array([self.cx, self.cy])
        back = np.array([[c, -s], [s, c]]) / np.array([self.width / out_w, self.height / out_h])
        return d @ back + np.array([out_w / 2, out_h / 2])

    def corners(self) -> np.ndarray:
        """(4, 2) image corners."""
        return self.to_image(np.array([[0, 0], [1, 0], [1, 1], [0, 1]], dtype=np.float64), 1, 1)

    def bbox(self) -> tuple[float, float, float, float]:
        """Axis-aligned bounding box of the rect in the image."""
        c = self.corners()
        return float(c[:, 0].min()), float(c[:, 1].min()), float(c[:, 0].max()), float(c[:, 1].max())

    def scaled(self, factor: float, shift_up: float = 0.0) -> RotatedRect:
        """Moved `shift_up` (fraction of its height) along its up axis, then scaled about the new centre
        (MediaPipe's rect transformation)."""
        w, h = self.width * factor, self.height * factor
        d = shift_up * self.height
        return RotatedRect(self.cx + math.sin(self.angle) * d, self.cy - math.cos(self.angle) * d, w, h, self.angle)


def angle_up(start: np.ndarray, end: np.ndarray) -> float:
    """The rect angle that makes the direction start -> end point up in the crop."""
    d = np.asarray(end, dtype=np.float64) - np.asarray(start, dtype=np.float64)
    return math.atan2(d[0], -d[1])


def crop(image: np.ndarray, rect: RotatedRect, out_w: int, out_h: int | None = None) -> np.ndarray:
    """The rect's content resampled to out_w x out_h (bilinear; outside the image black, as a letterbox)."""
    import cv2

    out_h = out_h or out_w
    M = rect.crop_to_image(out_w, out_h)
    # continuous coordinates (pixel i spans [i, i+1]) -> OpenCV's (pixel i centred on i)
    M[:, 2] += M[:, :2] @ np.array([0.5, 0.5]) - 0.5
    return cv2.warpAffine(
        image,
        M,
        (out_w, out_h),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )
