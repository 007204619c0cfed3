"""Initial 3D hand for fitting: place the detector's metric landmarks in the camera, then inverse kinematics.

1. `place_landmarks`: the detector's metric 3D landmarks (hand-centred, arbitrary placement) are rotated
   and translated into the camera frame by PnP against the 2D keypoints and the intrinsics K.
2. `inverse_kinematics`: hand-model parameters whose keypoints follow those 3D points: global orientation
   and translation from the palm (Kabsch on wrist and MCPs), then each finger joint's rotation as the
   smallest rotation turning its rest bone onto the target bone, parent frames first (with the palm
   re-fitted where the model's keypoints ride on the finger bases).
"""

from __future__ import annotations

import weakref

import numpy as np
import torch

from handrecon.geometry.rotations import matrix_to_axis_angle
from handrecon.hand.keypoints import MANO16_CHILD_POINT, MANO16_PARENTS, convert_keypoints
from handrecon.hand.lbs import tree_levels
from handrecon.hand.params import HandParams  # the container lives in hand/; re-exported here

# MANO-21 indices of the palm points used for the global rigid fit: wrist and the five finger bases.
PALM_MANO21 = (0, 1, 4, 7, 10, 13)

__all__ = ["PALM_MANO21", "HandParams", "inverse_kinematics", "place_landmarks"]


def place_landmarks(world: np.ndarray, keypoints: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Rigidly place metric landmarks (21, 3) so that they project onto `keypoints` (21, 2); -> (21, 3).

    EPnP gives a first solution that iterative PnP (Levenberg-Marquardt on the reprojection error) refines.
    The result keeps the landmarks' own size, which fixes the depth of the hand.
    """
    import cv2

    obj = np.ascontiguousarray(world, dtype=np.float64)
    img = np.ascontiguousarray(keypoints, dtype=np.float64)
    Kd = np.asarray(K, dtype=np.float64)
    ok, rvec, tvec = cv2.solvePnP(obj, img, Kd, None, flags=cv2.SOLVEPNP_EPNP)
    if ok:
        ok, rvec, tvec = cv2.solvePnP(
            obj, img, Kd, None, rvec, tvec, useExtrinsicGuess=True, flags=cv2.SOLVEPNP_ITERATIVE
        )
    R = cv2.Rodrigues(rvec)[0] if ok else np.eye(3)
    placed = obj @ R.T + tvec.reshape(1, 3)
    if not ok or np.median(placed[:, 2]) <= 0:
        # Degenerate PnP: fall back to a fronto-parallel placement at the depth that matches the size.
        size3d = np.linalg.norm(obj - obj.mean(0), axis=1).mean()
        size2d = np.linalg.norm(img - img.mean(0), axis=1).mean()
        z = Kd[0, 0] * size3d / max(size2d, 1e-6)
        c = np.linalg.inv(Kd) @ np.array([*img.mean(0), 1.0]) * z
        placed = obj - obj.mean(0) + c
    return placed


def _kabsch(src: torch.Tensor, dst: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Batched rigid fit R, t minimising ||R src + t - dst||^2; src, dst (B, N, 3)."""
    ms, md = src.mean(1, keepdim=True), dst.mean(1, keepdim=True)
    H = (src - ms).transpose(1, 2) @ (dst - md)
    U, _, Vh = torch.linalg.svd(H)
    d = torch.sign(torch.det(Vh.transpose(1, 2) @ U.transpose(1, 2)))
    D = torch.diag_embed(torch.stack([torch.ones_like(d), torch.ones_like(d), d], -1))
    R = Vh.transpose(1, 2) @ D @ U.transpose(1, 2)
    t = md[:, 0] - (R @ ms[:, 0, :, None])[..., 0]
    return R, t


def _min_rotation(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Batched smallest rotation taking unit vectors a onto b (..., 3) -> (..., 3, 3)."""
    v = torch.cross(a, b, dim=-1)
    c = (a * b).sum(-1).clamp(min=-1 + 1e-6)
    x, y, z = v.unbind(-1)
    o = torch.zeros_like(x)
    Kx = torch.stack([o, -z, y, z, o, -x, -y, x, o], -1).reshape(*v.shape[:-1], 3, 3)
    eye = torch.eye(3, dtype=a.dtype, device=a.device).expand_as(Kx)
    return eye + Kx + Kx @ Kx / (1 + c)[..., None, None]


def wahba_rotation(src: torch.Tensor, dst: torch.Tensor) -> torch.Tensor:
    """Batched rotation R minimising sum ||R src_i - dst_i||^2 over vectors (no translation); (..., N, 3)."""
    H = src.transpose(-1, -2) @ dst
    U, _, Vh = torch.linalg.svd(H)
    d = torch.sign(torch.det(Vh.transpose(-1, -2) @ U.transpose(-1, -2)))
    D = torch.diag_embed(torch.stack([torch.ones_like(d), torch.ones_like(d), d], -1))
    return Vh.transpose(-1, -2) @ D @ U.transpose(-1, -2)


def shape_turned_onto(joints: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """`joints` (21, 3) turned about their wrist (row 0) by the rotation that best takes their wrist-relative
    vectors onto `reference`'s (Wahba): one hand's articulation in another reading's orientation."""
    src = torch.as_tensor(joints - joints[:1], dtype=torch.float64)
    dst = torch.as_tensor(reference - reference[:1], dtype=torch.float64)
    R = wahba_rotation(src, dst).numpy()
    return joints[:1] + (joints - joints[:1]) @ R.T


# A keypoint further than this from its bone's axis (rest joint to next chain point) makes the bone's twist
# visible: that bone is turned about its joint to match both points (see `_finger_rotations`).
OFF_AXIS_M = 0.002


def _off_axis_bases(rest: torch.Tensor, rest_joints: torch.Tensor) -> list[int]:
    """Palm-level joints (MANO-16 ids whose parent is the wrist) whose rest keypoint lies off their bone's axis."""
    out = []
    for j in [j for j in range(1, 16) if MANO16_PARENTS[j] == 0]:
        r1 = rest[:, j] - rest_joints[:, j]
        axis = torch.nn.functional.normalize(rest[:, MANO16_CHILD_POINT[j]] - rest_joints[:, j], dim=-1)
        if (r1 - (r1 * axis).sum(-1, keepdim=True) * axis).norm(dim=-1).max() > OFF_AXIS_M:
            out.append(j)
    return out


def _finger_rotations(
    R0: torch.Tensor,
    rest: torch.Tensor,
    tgt: torch.Tensor,
    pivots: torch.Tensor | None = None,
    rest_joints: torch.Tensor | None = None,
    off_axis: list[int] = (),
) -> torch.Tensor:
    """Local rotations (B, 15, 3, 3) turning each rest bone (keypoint to child point) onto its target bone,
    given the palm's world rotation R0; one batched step per tree level (a level needs only its parents').

    The joints in `off_axis` (palm level only) are instead turned about their joint, placed at `pivots`
    (B, 16, 3) in the targets' frame, so that their own keypoint and the child point both follow the targets
    (`rest_joints` (B, 16, 3) the rest joint centres): such a keypoint's position depends on the twist."""
    B = tgt.shape[0]
    child = MANO16_CHILD_POINT  # MANO-21 point each joint's distal bone ends at (next joint or fingertip)
    G = torch.eye(3, dtype=tgt.dtype, device=tgt.device).repeat(B, 16, 1, 1)
    G[:, 0] = R0
    local = torch.eye(3, dtype=tgt.dtype, device=tgt.device).repeat(B, 15, 1, 1)
    for level in tree_levels(MANO16_PARENTS)[1:]:
        js = torch.tensor(level)
        parent_R = G[:, [MANO16_PARENTS[j] for j in level]]
        ch = [child[j] for j in level]
        d_rest = rest[:, ch] - rest[:, js]
        d_tgt_local = (parent_R.transpose(-1, -2) @ (tgt[:, ch] - tgt[:, js])[..., None])[..., 0]
        Rj = _min_rotation(
            torch.nn.functional.normalize(d_rest, dim=-1), torch.nn.functional.normalize(d_tgt_local, dim=-1)
        )
        for k, j in enumerate(level):
            if j in off_axis and pivots is not None:
                src = torch.stack([rest[:, j], rest[:, child[j]]], 1) - rest_joints[:, j, None]
                dst = torch.stack([tgt[:, j], tgt[:, child[j]]], 1) - pivots[:, j, None]
                Rj[:, k] = wahba_rotation(src, dst @ parent_R[:, k])
        local[:, js - 1] = Rj
        G[:, js] = parent_R @ Rj
    return local


# model -> (its buffers and their versions, batch size, rest keypoints of the mean shape)
_MEAN_REST: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _mean_rest_keypoints(model, batch: int) -> torch.Tensor:
    """The model's rest keypoints (batch, 21, 3) (MANO order) at the mean shape: the same for every hand
    started by inverse kinematics, so computed once per model (again if its buffers are replaced or
    changed in place)."""
    buffers = tuple(model.buffers())
    versions = tuple(b._version for b in buffers)
    entry = _MEAN_REST.get(model)
    same = entry is not None and entry[2] == batch and entry[1] == versions
    if not same or any(a is not b for a, b in zip(entry[0], buffers, strict=True)):
        betas = torch.zeros(batch, model.num_betas, dtype=model.dtype, device=model.device)
        rest = model(betas=betas, joint_order="mano", skin_mesh=False).joints
        entry = _MEAN_REST[model] = (buffers, versions, batch, rest)
    return entry[3]


# Palm re-fits of a model whose keypoints ride on the finger bones (see `inverse_kinematics`); each one
# shrinks the palm's error by the fingers' share of it, so a few reach float64 precision.
PALM_REFIT_MAX = 10
PALM_REFIT_TOL = 1e-10


@torch.no_grad()
def inverse_kinematics(
    model, targets: torch.Tensor, order: str = "openpose", betas: torch.Tensor | None = None
) -> HandParams:
    """Hand-model parameters whose keypoints follow `targets` (B, 21, 3) in the model's/camera frame.

    A keypoint rides on its own joint's bone, so each bone is turned so that the line from its keypoint to
    the next point of its chain points at the targets' line (exact for any keypoint on that bone). Where the
    keypoints are the skinning joints (the bundled asset, MANO) the palm's keypoints do not move with the
    fingers and one rigid fit of the rest palm places it. Where they differ (`model.separate_keypoints`:
    finger MCP keypoints lie on the proximal phalanges, the thumb CMC's on its metacarpal) the palm's
    keypoints move with the finger bases, so the palm is re-fitted to the keypoints of the hand posed by
    the fingers' rotations found so far, and the fingers solved again, until the palm stops moving.
    """
    tgt = convert_keypoints(targets.to(model.dtype), order, "mano")
    B = tgt.shape[0]
    if betas is None:
        betas = torch.zeros(B, model.num_betas, dtype=model.dtype, device=model.device)
        rest = _mean_rest_keypoints(model, B)
    else:
        rest = model(betas=betas, joint_order="mano", skin_mesh=False).joints  # (B, 21, 3) rest pose, wrist at origin
    palm = list(PALM_MANO21)
    R0, _ = _kabsch(rest[:, palm], tgt[:, palm])
    local = _finger_rotations(R0, rest, tgt)
    if getattr(model, "separate_keypoints", False):
        rest_joints = model.shaped(betas, B, model.tip_vertex_ids)[1]
        off_axis = _off_axis_bases(rest, rest_joints)
        for _ in range(PALM_REFIT_MAX):
            posed = model(hand_pose=local, betas=betas, joint_order="mano", skin_mesh=False).joints
            R_new, t_new = _kabsch(posed[:, palm], tgt[:, palm])
            change = (R_new - R0).abs().max()
            R0 = R_new
            pivots = rest_joints @ R0.transpose(-1, -2) + t_new[:, None]  # palm-level joints, in the targets' frame
            local = _finger_rotations(R0, rest, tgt, pivots, rest_joints, off_axis)
            if change < PALM_REFIT_TOL:
                break
    go = matrix_to_axis_angle(R0)
    # translation: the posed model's joints, best matched (in the mean) to the targets
    out = model(global_orient=go, hand_pose=local, betas=betas, joint_order="mano", skin_mesh=False)
    transl = (tgt - out.joints).mean(1)
    return HandParams(global_orient=go, hand_pose=local, betas=betas, transl=transl)
