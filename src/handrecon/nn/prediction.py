"""`HandPrediction`: what every network of handrecon returns, one hand per row.

Rotations are matrices (the networks regress 6D rotations, Zhou et al. CVPR 2019); 3D in the camera frame
of the crop's intrinsics (OpenCV axes, metres); keypoints in OpenPose-21 order; 2D in crop pixels.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch

from handrecon.geometry.rotations import matrix_to_axis_angle
from handrecon.hand.params import HandParams


@dataclass
class HandPrediction:
    global_orient: torch.Tensor  # (B, 3, 3)
    hand_pose: torch.Tensor  # (B, 15, 3, 3) full local rotations (the model's pose mean included)
    betas: torch.Tensor  # (B, S)
    camera: torch.Tensor  # (B, 3) weak-perspective (s, tx, ty) in units of the crop
    transl: torch.Tensor  # (B, 3) hand-model translation in the camera, metres
    vertices: torch.Tensor | None  # (B, V, 3) camera frame, metres (None when not asked for)
    joints: torch.Tensor  # (B, 21, 3) camera frame, metres, OpenPose-21
    keypoints_2d: torch.Tensor  # (B, 21, 2) crop pixels
    joint_variance: torch.Tensor | None = None  # (B, 21) per-joint variance (m^2) when the model predicts it

    def params(self, pose_mean: torch.Tensor | None = None) -> HandParams:
        """The prediction as the parameter container (axis-angle, hand_pose relative to `pose_mean`)."""
        return HandParams(self.global_orient, self.hand_pose, self.betas, self.transl).to_axis_angle(pose_mean)

    def as_dict(self) -> dict[str, torch.Tensor]:
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}

    def axis_angle(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(global_orient (B, 3), hand_pose (B, 15, 3)) as axis-angle full rotations."""
        return matrix_to_axis_angle(self.global_orient), matrix_to_axis_angle(self.hand_pose)
