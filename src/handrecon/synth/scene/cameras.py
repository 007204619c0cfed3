"""Synthetic cameras and hand placement: exocentric crops and egocentric wide-angle views.

Exocentric (third-person) samples imitate hand crops taken from a larger photo: a 30-60 degree camera
sees the hand somewhere off its axis, and the crop re-centres it by moving the principal point, as
cropping does; the hand spans most of the crop. Egocentric samples imitate head-mounted cameras
(WildHands): a 90-120 degree field of view, the hand off-centre (mostly in the lower part of the view), 5-60 cm
from the camera, seen from behind the wrist with the forearm coming from the bottom of the view.
Both keep full pinhole intrinsics K, so crops stay geometrically exact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from handrecon.geometry.camera import intrinsics_from_fov
from handrecon.geometry.rotations import axis_rotation, frame_from_axes, random_rotation

EXO_FOV_DEG = (30.0, 60.0)
EGO_FOV_DEG = (90.0, 120.0)
EGO_DISTANCE_M = (0.05, 0.60)  # nearest surface point no closer than 5 cm, hand centre within 60 cm


@dataclass(frozen=True)
class CameraRanges:
    """Ranges the placement samples from."""

    exo_fov_deg: tuple[float, float] = EXO_FOV_DEG
    exo_fill: tuple[float, float] = (0.5, 0.85)  # hand bounding-box side / image side
    exo_off_axis_deg: float = 15.0  # how far off the optical axis the crop was taken
    exo_centre_jitter: float = 0.06  # of the image side
    ego_fov_deg: tuple[float, float] = EGO_FOV_DEG
    ego_distance_m: tuple[float, float] = EGO_DISTANCE_M


def exocentric_orientation(rng: np.random.Generator) -> np.ndarray:
    """Global rotation of an exocentric sample: uniform over SO(3), or fingers roughly up (as people pose)."""
    if rng.random() < 0.6:
        return random_rotation(rng)
    # Fingers up in the image (camera -y), palm or back towards the camera, tilted and turned.
    distal = np.array([0.0, -1.0, 0.0]) + rng.normal(0, 0.45, 3)
    palmar = np.array([0.0, 0.0, -1.0 if rng.random() < 0.5 else 1.0]) + rng.normal(0, 0.6, 3)
    return frame_from_axes(distal, palmar)


def egocentric_orientation(rng: np.random.Generator, direction: np.ndarray) -> np.ndarray:
    """Hand seen from the owner's eyes: fingers pointing away from the camera and up the image (the
    forearm then comes from below the camera), the palm turned anywhere from down to sideways, sometimes up."""
    if rng.random() < 0.1:
        return random_rotation(rng)
    distal = np.array([0.6 * direction[0], -rng.uniform(0.1, 0.9), 1.0]) + rng.normal(0, 0.3, 3)
    distal /= np.linalg.norm(distal)
    down = np.array([0.0, 1.0, 0.0])
    roll = rng.uniform(-1.9, 1.9) if rng.random() < 0.85 else rng.uniform(-math.pi, math.pi)
    palmar = axis_rotation(distal, roll) @ (down - down.dot(distal) * distal)
    return frame_from_axes(distal, palmar)


def egocentric_orientation_ok(R: np.ndarray) -> bool:
    """Whether a hand's global rotation fits a head-mounted view: fingers pointing away from the camera
    and not down the image, so that the forearm can come from below the camera."""
    distal = R @ np.array([0.0, 1.0, 0.0])
    return bool(distal[2] > 0.2 and distal[1] < 0.3)


def exocentric_intrinsics(
    rng: np.random.Generator, points: np.ndarray, size: int, ranges: CameraRanges
) -> tuple[np.ndarray, np.ndarray]:
    """K (3, 3) and the translation (3,) to add to camera-frame `points` (N, 3) centred at the origin.

    The hand centre goes on a ray up to `exo_off_axis_deg` off the axis, at the depth making its
    bounding box span `exo_fill` of the image; the principal point then moves so that the crop is
    centred on the hand (up to a jitter).
    """
    fov = rng.uniform(*ranges.exo_fov_deg)
    f = 0.5 * size / math.tan(math.radians(fov) / 2)
    fill = rng.uniform(*ranges.exo_fill)
    off = np.radians(rng.uniform(-ranges.exo_off_axis_deg, ranges.exo_off_axis_deg, 2))
    ray = np.array([math.tan(off[0]), math.tan(off[1]), 1.0])
    # Depth from the extent seen at unit depth: extent / depth * f = fill * size (solve, then refine once).
    depth = 0.5
    for _ in range(2):
        p = points + ray * depth
        uv = p[:, :2] / p[:, 2:3] * f
        extent = (uv.max(0) - uv.min(0)).max()
        depth *= extent / (fill * size)
    centre = ray * depth
    p = points + centre
    uv = p[:, :2] / p[:, 2:3] * f
    mid = (uv.max(0) + uv.min(0)) / 2
    jitter = rng.uniform(-ranges.exo_centre_jitter, ranges.exo_centre_jitter, 2) * size
    cx, cy = size / 2 + jitter - mid
    K = np.array([[f, 0.0, cx], [0.0, f, cy], [0.0, 0.0, 1.0]])
    return K, centre


def egocentric_intrinsics(
    rng: np.random.Generator, size: int, ranges: CameraRanges
) -> tuple[np.ndarray, np.ndarray, float]:
    """K (3, 3) of a wide-angle head-mounted camera, a unit direction for the hand and its distance."""
    fov = rng.uniform(*ranges.ego_fov_deg)
    K = intrinsics_from_fov(size, size, fov, dtype=torch.float64).numpy()
    half = math.radians(fov) / 2
    ax = rng.uniform(-0.75, 0.75) * half
    ay = rng.uniform(-0.25, 0.8) * half
    direction = np.array([math.tan(ax), math.tan(ay), 1.0])
    direction /= np.linalg.norm(direction)
    lo, hi = ranges.ego_distance_m
    # Log-uniform between arm's length and close-up; the nearest point is pushed beyond `lo` afterwards.
    distance = math.exp(rng.uniform(math.log(max(lo, 0.15)), math.log(hi)))
    return K, direction, distance


def push_beyond(points: np.ndarray, centre: np.ndarray, direction: np.ndarray, min_depth: float) -> np.ndarray:
    """Move `centre` along `direction` until every point (relative to the centre) is at z >= min_depth."""
    z = (points + centre)[:, 2].min()
    if z >= min_depth:
        return centre
    return centre + direction * (min_depth - z) / max(direction[2], 1e-3)
