"""Per-joint 2D uncertainty (sigma, pixels) for detector keypoints, which MediaPipe does not provide.

Model: sigma_j^2 = (a_j * s)^2 + (c * spread_j)^2, where s is the hand's size in pixels, a_j a per-joint
floor (relative error of the detector on joint j when its augmentations agree) and spread_j the landmark
spread over test-time augmentations (`MediaPipeHands.detect(..., tta=...)`). The parameters are fitted by
maximum likelihood of the 2D Gaussian model on synthetic renders with exact labels (tools/calibrate_sigma.py,
never on evaluation photos) and stored in `assets/sigma_calibration.json`; the calibration's coverage on
held-out data is recorded there too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources

import numpy as np

from handrecon.detect.types import HandDetection

CALIBRATION_FILE = "sigma_calibration.json"


@dataclass(frozen=True)
class SigmaCalibration:
    floor: tuple[float, ...]  # (21,) a_j, fraction of the hand size
    spread_gain: float  # c
    source: str = "default"

    @classmethod
    def load(cls) -> SigmaCalibration:
        try:
            text = (resources.files("handrecon.assets") / CALIBRATION_FILE).read_text()
        except FileNotFoundError:
            return cls(floor=(0.03,) * 21, spread_gain=1.0, source="uncalibrated default")
        d = json.loads(text)
        return cls(
            floor=tuple(d["floor"]), spread_gain=float(d["spread_gain"]), source=d.get("source", CALIBRATION_FILE)
        )


def keypoint_sigma(det: HandDetection, calib: SigmaCalibration) -> np.ndarray:
    """(21,) sigma in pixels for one detection."""
    floor = np.asarray(calib.floor) * det.size_px
    spread = det.tta_spread if det.tta_spread is not None else np.zeros(21)
    return np.sqrt(floor**2 + (calib.spread_gain * spread) ** 2)
