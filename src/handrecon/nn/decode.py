"""From regressed parameters to a `HandPrediction`: the hand model posed, placed by the weak-perspective
camera in the crop's camera and projected with the crop's intrinsics.

The camera (s, tx, ty) is read as the translation (tx, ty, 2 f / (s * crop_size)) of the hand in the
crop's camera (the convention of `HandRegressor`; WildHands' J_2D = K [J_3D + (T, f / s)] with s in units
of the crop's half-side), so joints and vertices come out in metres, absolute, in the camera of K.
"""

from __future__ import annotations

import torch

from handrecon.geometry.camera import project_points


def camera_translation(camera: torch.Tensor, K: torch.Tensor, crop_size: int) -> torch.Tensor:
    """(B, 3) translation of the hand in the crop's camera from the weak-perspective camera (B, 3)."""
    s = camera[:, 0].clamp(min=1e-3)
    return torch.stack([camera[:, 1], camera[:, 2], 2 * K[:, 0, 0].to(camera) / (s * crop_size)], -1)


def decode_hand(hand_model, R: torch.Tensor, betas: torch.Tensor, camera: torch.Tensor, K: torch.Tensor,
                crop_size: int, with_vertices: bool = True) -> dict[str, torch.Tensor | None]:
    """The `HandPrediction` fields of rotations R (B, 16, 3, 3) (wrist first), betas and camera."""
    out = hand_model(global_orient=R[:, 0], hand_pose=R[:, 1:], betas=betas, transl=torch.zeros_like(camera),
                     skin_mesh=with_vertices)
    transl = camera_translation(camera, K, crop_size)
    joints = out.joints + transl[:, None]
    return {
        "global_orient": R[:, 0],
        "hand_pose": R[:, 1:],
        "betas": betas,
        "camera": camera,
        "transl": transl,
        "vertices": out.vertices + transl[:, None] if with_vertices else None,
        "joints": joints,
        "keypoints_2d": project_points(joints, K),
    }
