"""Per-joint visibility from the rendered depth buffer, occluders and the other hand included.

A joint centre lies inside the hand, a few millimetres under the skin, so it counts as visible when the
surface the camera sees at its pixel is no more than a joint-specific tolerance in front of it: the depth
of the joint under its own skin (from the rest mesh) plus a margin. A nearer surface occludes it; the
owner of that surface says whether the hand hides itself, or another hand / an object hides it. Joints
projecting outside the image are truncated.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np
import torch

from handrecon.hand.keypoints import mano_to_openpose

SKIN_MARGIN_M = 0.004
MAX_TOLERANCE_M = 0.03  # the wrist lies deepest (about 2.5 cm under the back of the wrist)


class Occlusion(IntEnum):
    """Why a joint is or is not seen."""

    VISIBLE = 0
    SELF = 1  # hidden by its own hand (or its own forearm)
    OTHER = 2  # hidden by the other hand or an occluding object
    TRUNCATED = 3  # outside the image


def joint_depth_tolerance(model) -> np.ndarray:
    """(21,) metres, OpenPose order: how deep each joint lies under the rest mesh's skin, scaled, plus a margin."""
    with torch.no_grad():
        v = model.v_template.detach().double().cpu()
        joints = torch.cat([model.keypoint_template.detach().double().cpu(), v[model.tip_vertex_ids.cpu()]], 0)
        depth = torch.cdist(joints, v).amin(1)
        depth = mano_to_openpose(depth[:, None], dim=0)[:, 0]
    return np.clip(1.5 * depth.numpy() + SKIN_MARGIN_M, SKIN_MARGIN_M, MAX_TOLERANCE_M)


def joint_occlusion(
    uv: np.ndarray,
    z: np.ndarray,
    depth: np.ndarray,
    owner: np.ndarray,
    own_ids: tuple[int, ...],
    tolerance: np.ndarray,
) -> np.ndarray:
    """Occlusion code (21,) of one hand's joints.

    uv (21, 2) pixel coordinates (pixel (x, y) covers [x, x+1) x [y, y+1)); z (21,) camera depths;
    depth (H, W) rendered depth (0 on background); owner (H, W) object id of each pixel (0 background);
    own_ids: object ids of this hand and its forearm; tolerance (21,) metres.
    """
    H, W = depth.shape
    col = np.floor(uv[:, 0]).astype(np.int64)
    row = np.floor(uv[:, 1]).astype(np.int64)
    inside = (col >= 0) & (col < W) & (row >= 0) & (row < H) & np.isfinite(uv).all(-1)
    out = np.full(21, int(Occlusion.TRUNCATED), dtype=np.int8)
    c, r = col[inside], row[inside]
    d, o = depth[r, c], owner[r, c]
    seen = (o == 0) | (d >= z[inside] - tolerance[inside])
    code = np.where(
        seen, int(Occlusion.VISIBLE), np.where(np.isin(o, own_ids), int(Occlusion.SELF), int(Occlusion.OTHER))
    )
    out[inside] = code
    return out
