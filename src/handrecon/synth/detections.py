"""Simulated 2D keypoint detections with confidences, as an off-the-shelf detector would give them.

The self-supervised setting (S2HAND) trains from noisy detected keypoints and their confidences. The
simulation follows what such detectors do:
- Gaussian localisation error whose sigma is a fraction of the hand's size and grows with occlusion (own
  hand < other hand or object < outside the image), with image blur and sensor noise, and with a floor of
  one pixel for small hands;
- confidences that fall with the actual error (a sharp heatmap peak where the detector is right) and
  with occlusion, plus jitter;
- occasional gross outliers (a joint placed anywhere on the hand) and swapped neighbouring fingers, both
  with low confidence; rarely a missed hand (all confidences near zero) when it is mostly hidden.
Detections are clipped to the image, like a heatmap's argmax.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from handrecon.hand.keypoints import OPENPOSE_FINGER_JOINTS
from handrecon.synth.joint_occlusion import Occlusion


@dataclass(frozen=True)
class DetectorNoise:
    """Noise model, per occlusion category (visible, self, other, truncated)."""

    sigma: tuple[float, float, float, float] = (0.012, 0.035, 0.06, 0.08)  # fraction of the hand's size
    confidence: tuple[float, float, float, float] = (0.92, 0.6, 0.45, 0.15)
    outlier_prob: tuple[float, float, float, float] = (0.01, 0.04, 0.08, 0.15)
    swap_prob: float = 0.03  # per hand, plus `swap_occlusion` x fraction of hidden joints
    swap_occlusion: float = 0.15
    miss_prob: float = 0.5  # for a hand with more than `miss_hidden` of its joints hidden
    miss_hidden: float = 0.75
    min_sigma_px: float = 1.0


@dataclass
class Detection:
    """keypoints (21, 2) pixels, confidence (21,) in [0, 1], and what was simulated."""

    keypoints: np.ndarray
    confidence: np.ndarray
    outliers: np.ndarray  # (21,) bool
    swapped: tuple[str, str] | None
    missed: bool


def simulate_detection(
    rng: np.random.Generator,
    uv: np.ndarray,
    occlusion: np.ndarray,
    image_size: tuple[int, int],
    blur_px: float = 0.0,
    noise: float = 0.0,
    model: DetectorNoise | None = None,
) -> Detection:
    """Noisy detection of one hand from its true 2D joints uv (21, 2) and occlusion codes (21,)."""
    m = model or DetectorNoise()
    H, W = image_size
    occlusion = occlusion.astype(np.int64)
    lo, hi = uv.min(0), uv.max(0)
    size = float(max(hi[0] - lo[0], hi[1] - lo[1], 1.0))
    quality = 1.0 + blur_px / max(2.0, 0.05 * size) + 8.0 * noise
    sigma = np.maximum(np.asarray(m.sigma)[occlusion] * size, m.min_sigma_px) * quality
    kp = uv + rng.standard_normal((21, 2)) * sigma[:, None]
    err = np.linalg.norm(kp - uv, axis=-1)
    conf = np.asarray(m.confidence)[occlusion] * np.exp(-0.5 * (err / (0.06 * size)) ** 2) / quality**0.5
    conf = conf + rng.normal(0, 0.04, 21)

    outliers = rng.random(21) < np.asarray(m.outlier_prob)[occlusion]
    if outliers.any():
        pad = 0.3 * (hi - lo)
        n = int(outliers.sum())
        kp[outliers] = rng.uniform(lo - pad, hi + pad, (n, 2))
        conf[outliers] = rng.uniform(0.02, 0.35, n)

    hidden = float((occlusion != Occlusion.VISIBLE).mean())
    swapped = None
    if rng.random() < m.swap_prob + m.swap_occlusion * hidden:
        names = list(OPENPOSE_FINGER_JOINTS)
        k = int(rng.integers(len(names) - 1))
        a, b = list(OPENPOSE_FINGER_JOINTS[names[k]]), list(OPENPOSE_FINGER_JOINTS[names[k + 1]])
        kp[a + b] = kp[b + a]
        conf[a + b] *= rng.uniform(0.5, 0.85)
        swapped = (names[k], names[k + 1])

    missed = hidden > m.miss_hidden and rng.random() < m.miss_prob
    if missed:
        centre = (lo + hi) / 2
        kp = centre + rng.normal(0, 0.3 * size, (21, 2))
        conf = rng.uniform(0.0, 0.05, 21)

    kp = np.clip(kp, 0.0, [W, H])
    return Detection(kp.astype(np.float32), np.clip(conf, 0.0, 1.0).astype(np.float32), outliers, swapped, missed)
