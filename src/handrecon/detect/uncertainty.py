"""Per-joint 2D uncertainty (sigma, pixels) for detector keypoints, which MediaPipe does not provide.

Model, per joint j of a hand of size s pixels:

    log sigma0_j = log(a_j s) + w . f_j          (one detection pass)
    sigma_j^2    = sigma0_j^2 + (c spread_j)^2    (when test-time augmentations were run)

a_j is a per-joint floor (relative error of the detector on joint j), and f_j are what a single pass
says about how hard the joint is: its depth behind the hand (`relative_depth`, occluded joints lie
behind), the foreshortening of the bone ending at it (a finger pointing at the camera hides its joints),
and the doubt in the handedness classification (a low score comes with confused hands). spread_j is the
landmark spread over augmentations (`MediaPipeHands.detect(..., tta=...)`). Both variants are fitted by
maximum likelihood of the 2D Gaussian model on synthetic renders with exact labels
(tools/calibrate_sigma.py, never on evaluation photos) and stored in `assets/sigma_calibration.json`,
with their coverage on held-out renders.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources

import numpy as np

from handrecon.detect.types import HandDetection
from handrecon.hand.keypoints import OPENPOSE_PARENTS

CALIBRATION_FILE = "sigma_calibration.json"
FEATURES: tuple[str, ...] = ("relative_depth", "foreshortening", "handedness_doubt")


@dataclass(frozen=True)
class SigmaModel:
    floor: tuple[float, ...]  # (21,) a_j, fraction of the hand size
    feature_weights: tuple[float, ...]  # (len(FEATURES),) w
    spread_gain: float = 0.0  # c (0: single-pass model)


@dataclass(frozen=True)
class SigmaCalibration:
    single_pass: SigmaModel
    tta: SigmaModel
    source: str = "default"

    @classmethod
    def load(cls) -> SigmaCalibration:
        try:
            text = (resources.files("handrecon.assets") / CALIBRATION_FILE).read_text()
        except FileNotFoundError:
            default = SigmaModel(floor=(0.05,) * 21, feature_weights=(0.0,) * len(FEATURES), spread_gain=1.0)
            return cls(default, default, source="uncalibrated default")
        d = json.loads(text)
        models = {
            k: SigmaModel(tuple(d[k]["floor"]), tuple(d[k]["feature_weights"]), float(d[k].get("spread_gain", 0.0)))
            for k in ("single_pass", "tta")
        }
        return cls(models["single_pass"], models["tta"], source=d.get("source", CALIBRATION_FILE))

    def model_for(self, det: HandDetection) -> SigmaModel:
        return self.tta if det.tta_spread is not None else self.single_pass


def sigma_features(det: HandDetection) -> np.ndarray:
    """(21, len(FEATURES)) per-joint difficulty features of one detection pass (see the module notes)."""
    s = det.size_px
    feats = np.zeros((21, len(FEATURES)))
    if det.relative_depth is not None:
        z = np.asarray(det.relative_depth, dtype=np.float64)
        feats[:, 0] = np.clip((z - np.median(z)) / s, -1.0, 1.0)
    parents = np.asarray(OPENPOSE_PARENTS[1:])
    len_2d = np.linalg.norm(det.keypoints[1:] - det.keypoints[parents], axis=1)
    len_3d = np.linalg.norm(det.world[1:] - det.world[parents], axis=1)
    if np.all(len_3d > 0):
        ratio = len_2d / len_3d
        feats[1:, 1] = np.clip(1.0 - ratio / max(np.median(ratio), 1e-9), 0.0, 1.0)
    feats[:, 2] = float(np.clip(1.0 - det.handedness_score, 0.0, 1.0))
    return feats


def sigma_from_features(
    size: np.ndarray, feats: np.ndarray, model: SigmaModel, spread: np.ndarray | None = None
) -> np.ndarray:
    """sigma (..., 21) from hand sizes (...), features (..., 21, F) and optional spreads (..., 21)."""
    log_sigma0 = np.log(np.asarray(model.floor) * np.asarray(size)[..., None]) + feats @ np.asarray(
        model.feature_weights
    )
    var = np.exp(2 * log_sigma0)
    if spread is not None:
        var = var + (model.spread_gain * spread) ** 2
    return np.sqrt(var)


def keypoint_sigma(det: HandDetection, calib: SigmaCalibration) -> np.ndarray:
    """(21,) sigma in pixels for one detection."""
    model = calib.model_for(det)
    return sigma_from_features(np.float64(det.size_px), sigma_features(det), model, det.tta_spread)
