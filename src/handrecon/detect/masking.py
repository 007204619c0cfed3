"""Hiding a verified hand from the landmark model, so that a crop holding it and a second hand reads the second.

The single-hand landmark model reads the most salient hand of its crop: on two interlocked or clasped hands it
locks onto the hand it already found, whatever crop is given. Filling that hand's palm (wrist, thumb base and
the four finger bases: the part no second hand shares, unlike fingers that interlace) with a neutral grey
removes the anchor its landmarks hang on; the fingers stay, since on interlocked hands they are where the
second hand's fingers are too.
"""

from __future__ import annotations

import numpy as np

from handrecon.detect.crops import RotatedRect
from handrecon.detect.landmarks import HandLandmarks

PALM_JOINTS = [0, 1, 2, 5, 9, 13, 17]  # wrist, thumb CMC and MCP, the four finger MCPs
PALM_DILATION = 0.1  # of the hand's size: covers the skin around the palm landmarks (their hull is inside it)
NEUTRAL_GREY = 128


def palm_mask(shape: tuple[int, ...], hands: list[HandLandmarks], dilation: float = PALM_DILATION) -> np.ndarray:
    """Boolean (H, W) mask of the palms of `hands`: the convex hull of the palm landmarks, grown by
    `dilation` x the hand's size."""
    import cv2

    mask = np.zeros(shape[:2], np.uint8)
    for h in hands:
        one = np.zeros_like(mask)
        hull = cv2.convexHull(h.keypoints[PALM_JOINTS].astype(np.float32)).round().astype(np.int32)
        cv2.fillConvexPoly(one, hull, 1)
        r = max(int(round(dilation * h.size_px)), 1)
        one = cv2.dilate(one, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
        mask |= one
    return mask.astype(bool)


def mask_palms(rgb: np.ndarray, hands: list[HandLandmarks], dilation: float = PALM_DILATION) -> np.ndarray:
    """A copy of the image with the palms of `hands` filled with neutral grey."""
    out = rgb.copy()
    out[palm_mask(rgb.shape, hands, dilation)] = NEUTRAL_GREY
    return out


def palm_in_rect(hand: HandLandmarks, rect: RotatedRect) -> bool:
    """The centre of the hand's palm lies inside the rect: the landmark model reading that crop would see it."""
    u = rect.to_crop(hand.keypoints[PALM_JOINTS].mean(0), 1, 1)
    return bool(np.all((u >= 0.0) & (u <= 1.0)))
