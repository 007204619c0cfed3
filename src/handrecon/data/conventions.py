"""Conversions between the datasets' conventions and handrecon's, in one place.

handrecon's conventions (see DESIGN.md): camera frame as OpenCV (x right, y down, z forward), metres;
pixels in continuous coordinates (the image's top-left corner at (0, 0), pixel centres at +0.5);
keypoints in OpenPose-21 order; hand-model parameters as `HandParams` (MANO's own convention: axis-angle,
`hand_pose` relative to the model's pose mean).

Keypoint orders themselves live in `handrecon.hand.keypoints` (re-exported here); this module adds the
dataset-side conventions: OpenGL camera axes (HO3D), MANO's flat 61-vector (FreiHAND), pixel-index
coordinates (COCO-style labels, InterHand2.6M), and moving hand parameters into a rotated camera frame.
"""

from __future__ import annotations

import numpy as np
import torch

from handrecon.geometry.rotations import axis_angle_to_matrix, matrix_to_axis_angle
from handrecon.hand.keypoints import convert_keypoints, mano_to_openpose, openpose_to_mano
from handrecon.hand.params import HandParams

__all__ = [
    "OPENGL_TO_OPENCV",
    "change_camera_frame",
    "convert_keypoints",
    "mano_to_openpose",
    "opengl_to_opencv",
    "openpose_to_mano",
    "pack_mano_vector",
    "pixel_index_to_continuous",
    "unpack_mano_vector",
]

# OpenGL camera (x right, y up, z backward) -> OpenCV camera (x right, y down, z forward); its own inverse.
OPENGL_TO_OPENCV = np.diag([1.0, -1.0, -1.0])

MANO_VECTOR_SIZE = 61  # FreiHAND's layout: global orient 3, hand pose 45, betas 10, translation 3


def opengl_to_opencv(points: np.ndarray) -> np.ndarray:
    """Points (..., 3) in an OpenGL camera frame -> the OpenCV frame (and back: the map is an involution)."""
    return np.asarray(points) * np.array([1.0, -1.0, -1.0])


def pixel_index_to_continuous(uv: np.ndarray) -> np.ndarray:
    """Pixel-index coordinates (a pixel's centre at an integer) -> handrecon's continuous ones (+0.5). The
    same shift applies to a principal point given in the index convention."""
    return np.asarray(uv, dtype=np.float64) + 0.5


def pack_mano_vector(params: HandParams, index: int = 0) -> np.ndarray:
    """Hand `index` of `params` (axis-angle) -> FreiHAND's flat (61,) MANO vector [pose 48, shape 10,
    translation 3]; betas are zero-padded (or must fit) to 10."""
    p = params.to_axis_angle().numpy(index)
    betas = np.zeros(10)
    b = np.asarray(p["betas"]).reshape(-1)
    if b.size > 10:
        raise ValueError(f"a MANO vector holds 10 shape coefficients, got {b.size}")
    betas[: b.size] = b
    return np.concatenate([p["global_orient"].reshape(3), p["hand_pose"].reshape(45), betas, p["transl"].reshape(3)])


def unpack_mano_vector(vec: np.ndarray, dtype: torch.dtype = torch.float64) -> HandParams:
    """FreiHAND's (61,) or (B, 61) MANO vector -> `HandParams` (B = 1 for a single vector).

    FreiHAND's pose is the 48 axis-angle values of MANO with `flat_hand_mean=False` as in its own toolkit
    (the vector is the input of MANO's layer, the mean pose added inside), which is `HandParams`'
    convention for the MANO model loaded with its default `pose_mean`."""
    v = np.asarray(vec, dtype=np.float64)
    if v.shape[-1] != MANO_VECTOR_SIZE or v.ndim not in (1, 2):
        raise ValueError(f"a MANO vector is (61,) or (B, 61), got shape {v.shape}")
    v = v.reshape(-1, MANO_VECTOR_SIZE)
    t = torch.as_tensor(v, dtype=dtype)
    return HandParams(
        global_orient=t[:, :3], hand_pose=t[:, 3:48].reshape(-1, 15, 3), betas=t[:, 48:58], transl=t[:, 58:61]
    )


def change_camera_frame(params: HandParams, R: np.ndarray | torch.Tensor, rest_root: torch.Tensor) -> HandParams:
    """Parameters of the same hand seen in a camera frame rotated by R (x' = R x), e.g. R = OPENGL_TO_OPENCV.

    The model poses its mesh about the rest root joint J0 (which depends on the betas): v = G (v0 - J0) + J0
    + t. Then R v = (R G)(v0 - J0) + J0 + t' with t' = R (J0 + t) - J0; the joint rotations are unchanged.
    `rest_root` (B, 3) is J0, e.g. `model(betas=...).joints[:, 0]` of the unposed model with zero transl.
    """
    Rm = torch.as_tensor(np.asarray(R), dtype=params.transl.dtype, device=params.transl.device)
    aa = params.global_orient.dim() == 2
    G = axis_angle_to_matrix(params.global_orient) if aa else params.global_orient
    go = Rm @ G
    if aa:
        go = matrix_to_axis_angle(go)
    j0 = rest_root.to(params.transl)
    transl = (j0 + params.transl) @ Rm.T - j0
    return HandParams(go, params.hand_pose, params.betas, transl, params.bone_scales)
