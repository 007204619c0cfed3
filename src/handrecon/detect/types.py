"""What the detector front end hands to the 3D fitting: 2D keypoints with uncertainty, per hand."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class HandDetection:
    """One detected hand in an image (pixels, OpenPose-21 order).

    `world` are the detector's metric 3D landmarks (metres, hand-centred, camera-aligned axes), used to
    initialise the 3D fit; `sigma` the per-joint 2D standard deviation in pixels (isotropic).
    """

    keypoints: np.ndarray  # (21, 2) pixels
    world: np.ndarray  # (21, 3) metres
    handedness: str  # "right" | "left" (true handedness of the hand in the photo)
    handedness_score: float
    sigma: np.ndarray = field(default_factory=lambda: np.full(21, np.nan))  # (21,) pixels
    tta_spread: np.ndarray | None = None  # (21,) pixels, spread of landmarks over augmentations
    # (21,) pixels: the detector's depth of each landmark relative to the wrist (larger = farther away)
    relative_depth: np.ndarray | None = None
    detector_pass: str = "full"  # which detection pass found the hand
    track_id: int | None = None
    detector_name: str = "mediapipe-hands-0.10.21"
    # why the hand was kept and where its side comes from (written into the JSON's "detector" record)
    report: dict = field(default_factory=dict)

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        """Tight keypoint box (x0, y0, x1, y1)."""
        lo, hi = self.keypoints.min(0), self.keypoints.max(0)
        return float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])

    @property
    def size_px(self) -> float:
        """Hand scale in pixels: the longer side of the keypoint box."""
        x0, y0, x1, y1 = self.bbox
        return max(x1 - x0, y1 - y0, 1.0)
