"""`Hand`: everything handrecon reconstructs for one hand, and its JSON form (schema version 1).

Conventions: metres in the camera frame (OpenCV: x right, y down, z forward); pixels in continuous
coordinates (image top-left corner at (0, 0), pixel centres at +0.5); joints in OpenPose-21 order;
angles of `joint_angles_deg` in degrees (bend, splay, twist, see `handrecon.hand.anatomy`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from handrecon.hand.keypoints import MANO16_NAMES, OPENPOSE_NAMES
from handrecon.hand.params import HandParams

SCHEMA_VERSION = 1
# Nearest a hand's surface may be to the camera centre and still be a hand in front of it (metres): no
# lens images a hand closer than this; a fit there (or behind the camera) comes from impossible intrinsics.
MIN_HAND_DEPTH_M = 0.01


@dataclass
class Plausibility:
    """Checks of the reconstruction against the priors (tolerances as used by the metrics)."""

    max_joint_limit_violation_deg: float
    joints_beyond_tolerance: list[str]
    joint_limit_tolerance_deg: float
    penetration_depth_mm: float | None
    penetration_tolerance_mm: float
    penetrates_other_hand_mm: float | None = None
    nearest_depth_m: float | None = None  # smallest z of the mesh in the camera frame (None: not known)

    @property
    def in_front_of_camera(self) -> bool:
        """False when part of the hand is behind (or nearer than `MIN_HAND_DEPTH_M` to) the camera; such a
        hand is never plausible, whatever its pose."""
        z = self.nearest_depth_m
        return z is None or (math.isfinite(z) and z > MIN_HAND_DEPTH_M)

    @property
    def plausible(self) -> bool:
        pen_ok = self.penetration_depth_mm is None or self.penetration_depth_mm <= self.penetration_tolerance_mm
        return not self.joints_beyond_tolerance and pen_ok and self.in_front_of_camera


@dataclass
class Hand:
    """One reconstructed hand (arrays are numpy, float64 unless noted)."""

    handedness: str  # "right" | "left"
    model: str  # "openhand" | "mano"
    joints_3d: np.ndarray  # (21, 3) metres, camera frame
    joints_2d: np.ndarray  # (21, 2) pixels: projection of joints_3d
    keypoints_2d_detected: np.ndarray  # (21, 2) the detector's keypoints
    sigma_2d: np.ndarray  # (21,) per-joint 2D standard deviation, pixels
    vertices: np.ndarray  # (V, 3) metres, camera frame
    faces: np.ndarray  # (F, 3) int, open surface (wrist left open)
    global_orient: np.ndarray  # (3,) axis-angle
    hand_pose: np.ndarray  # (15, 3) axis-angle, MANO joint order (model input)
    betas: np.ndarray  # (S,)
    transl: np.ndarray  # (3,) metres
    joint_angles_deg: np.ndarray  # (15, 3) bend, splay, twist
    K: np.ndarray  # (3, 3)
    plausibility: Plausibility
    detector: dict[str, Any] = field(default_factory=dict)
    vertex_colors: np.ndarray | None = None  # (V, 3) uint8
    texture: np.ndarray | None = None  # (T, T, 3) uint8 UV texture map
    texture_valid: np.ndarray | None = None  # (T, T) bool, texels seen in the photo
    uv: np.ndarray | None = None  # (U, 2), v up
    faces_uv: np.ndarray | None = None  # (F, 3) int, per-corner UV indices of `faces`
    track_id: int | None = None
    fit: dict[str, float] = field(default_factory=dict)
    bone_scales: np.ndarray | None = None  # (16,) segment length scales (HandModel bone_scales)
    # where the fit started: {"method": "ik" | "network" | "given"}; the network adds its per-joint 3D
    # standard deviation "joint_sigma_3d_m" (21,), OpenPose order
    initial: dict[str, Any] = field(default_factory=dict)

    @property
    def params(self) -> HandParams:
        """The model parameters as the one parameter container (B = 1, float64, axis-angle: the inputs of
        the `model` hand model that reproduce `vertices`)."""
        return HandParams.from_numpy(self.global_orient, self.hand_pose, self.betas, self.transl, self.bone_scales)

    @property
    def root(self) -> np.ndarray:
        """Wrist position in the camera frame (metres)."""
        return self.joints_3d[0]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (see docs in README: 'Output files')."""

        def arr(x: np.ndarray | None, nd: int = 6) -> Any:
            return None if x is None else np.round(np.asarray(x, dtype=np.float64), nd).tolist()

        p = self.plausibility
        return {
            "schema_version": SCHEMA_VERSION,
            "handedness": self.handedness,
            "track_id": self.track_id,
            "model": self.model,
            "joint_order": list(OPENPOSE_NAMES),
            "joints_3d_m": arr(self.joints_3d),
            "joints_2d_px": arr(self.joints_2d, 3),
            "keypoints_2d_detected_px": arr(self.keypoints_2d_detected, 3),
            "sigma_2d_px": arr(self.sigma_2d, 3),
            "camera": {
                "K": np.asarray(self.K, dtype=np.float64).tolist(),
                "frame": "OpenCV: x right, y down, z forward; metres",
            },
            "params": {
                "global_orient": arr(self.global_orient),
                "hand_pose": arr(self.hand_pose),
                "hand_pose_joint_order": list(MANO16_NAMES[1:]),
                "betas": arr(self.betas),
                "transl": arr(self.transl),
                "bone_scales": arr(self.bone_scales),
                "rotation": "axis-angle",
            },
            "joint_angles_deg": {
                "order": ["bend", "splay", "twist"],
                "joints": list(MANO16_NAMES[1:]),
                "values": arr(self.joint_angles_deg, 3),
            },
            "plausibility": {
                "plausible": p.plausible,
                "in_front_of_camera": p.in_front_of_camera,
                "nearest_depth_m": None if p.nearest_depth_m is None else round(p.nearest_depth_m, 6),
                "max_joint_limit_violation_deg": round(p.max_joint_limit_violation_deg, 3),
                "joints_beyond_tolerance": p.joints_beyond_tolerance,
                "joint_limit_tolerance_deg": p.joint_limit_tolerance_deg,
                "penetration_depth_mm": None if p.penetration_depth_mm is None else round(p.penetration_depth_mm, 3),
                "penetration_tolerance_mm": p.penetration_tolerance_mm,
                "penetrates_other_hand_mm": None
                if p.penetrates_other_hand_mm is None
                else round(p.penetrates_other_hand_mm, 3),
            },
            "detector": self.detector,
            "fit": {k: round(float(v), 6) for k, v in self.fit.items()},
            "init": self.initial,
            "mesh": {"num_vertices": int(len(self.vertices)), "num_faces": int(len(self.faces))},
        }
