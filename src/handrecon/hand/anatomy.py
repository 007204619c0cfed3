"""Anatomical joint frames and Euler angles (bend, splay, twist) of the 15 finger joints.

Each articulated joint gets a frame A = [b, s, t] (columns) derived from the rest skeleton alone, so the
same recipe serves openhand and MANO:
- t (twist axis): the proximal bone's direction — the anatomical neutral continues the proximal bone
  (finger MCPs use the wrist-to-MCP line for the metacarpal; the thumb CMC uses the index one);
- f: the direction the distal bone moves in flexion — the palm normal for the four fingers, the ulnar
  direction of the palm for the thumb (whose column is pronated about 90 degrees relative to the
  fingers) — made orthogonal to t;
- b = t x f (bend axis: positive bend is flexion), s = t x b (splay axis: finger MCPs deviate radially
  for positive splay, the thumb CMC abducts palmarly).
The rest pose is generally not the anatomical neutral; Q, the smallest rotation taking t onto the rest
distal bone, records that offset, so a joint rotation R (MANO's local rotation in the parent frame) has
anatomical rotation E = A^T R Q A.

Euler order: E = R_b(bend) R_s(splay) R_t(twist), intrinsic — the joint coordinate system recommended by
the International Society of Biomechanics for the hand (Wu et al., J. Biomech. 38:981-992, 2005):
flexion about the proximal segment's axis, abduction about the floating axis, axial rotation about the
distal segment. The middle (singular at +-90 degrees) angle is splay, whose range never exceeds 70
degrees (thumb CMC palmar abduction) and is 20 degrees or zero elsewhere, so every usable range is free
of gimbal lock.

Left hands: frames of the mirrored skeleton are the mirror images (A_left = M A, Q_left = M Q M), so a
mirrored pose has exactly the same anatomical angles and one range table serves both hands.
"""

from __future__ import annotations

import numpy as np
import torch

from handrecon.geometry.rotations import euler_to_matrix, matrix_to_euler
from handrecon.hand.keypoints import MANO16_CHILD_POINT, MANO16_PARENTS

EULER_ORDER = "XYZ"  # in anatomical coordinates (b, s, t)
_M = np.diag([-1.0, 1.0, 1.0])
# For each articulated MANO joint (1..15): (distal point index in MANO-21, proximal start index or None).
_THUMB = (13, 14, 15)
# Below this rest bend (degrees) a hinge's own two bones do not define its plane reliably.
HINGE_PLANE_MIN_DEG = 5.0


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def _chain_plane_normal(points: np.ndarray, hint: np.ndarray) -> np.ndarray:
    """Normal of the plane best fitting a finger's joint chain, oriented along `hint`.

    A finger's interphalangeal joints are hinges, so its chain of joints at rest lies in the flexion
    plane. When the chain is too straight to define a plane, `hint` (the palm-based bend axis) is used.
    """
    c = points - points.mean(0)
    _, sv, vt = np.linalg.svd(c)
    if sv[1] < 0.05 * sv[0]:
        return _unit(hint)
    nrm = vt[2]
    return nrm if np.dot(nrm, hint) >= 0 else -nrm


def _zero_twist_offset(A: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Rotation Q (model frame) from the anatomical neutral to the rest distal direction d, with no twist.

    With E0 = R_b(a) R_s(c), E0 e_t = (sin c, -sin a cos c, cos a cos c) in anatomical coordinates, which
    gives a and c from d; the rest pose is thereby defined to have zero axial rotation.
    """
    dl = A.T @ d
    c = np.arcsin(np.clip(dl[0], -1.0, 1.0))
    a = np.arctan2(-dl[1], dl[2])
    ca, sa, cc, sc = np.cos(a), np.sin(a), np.cos(c), np.sin(c)
    Rb = np.array([[1, 0, 0], [0, ca, -sa], [0, sa, ca]])
    Rs = np.array([[cc, 0, sc], [0, 1, 0], [-sc, 0, cc]])
    return A @ Rb @ Rs @ A.T


def right_hand_frames(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Frames A (15, 3, 3) and rest offsets Q (15, 3, 3) from a right hand's MANO-21 rest keypoints (21, 3)."""
    wrist, idx_mcp, pinky_mcp = p[0], p[1], p[7]
    n = _unit(np.cross(idx_mcp - wrist, pinky_mcp - wrist))  # palmar normal of a right hand
    r = _unit(idx_mcp - pinky_mcp)  # radial direction
    # The thumb IP is a pure hinge whose rest flexion is clear; its axis orients the thumb's flexion (the
    # MCP's own rest deviation is nearly sideways to the palm-based guess, so that guess cannot sign it).
    t_ip, d_ip = _unit(p[15] - p[14]), _unit(p[16] - p[15])
    guess = np.cross(t_ip, _unit(-r - np.dot(-r, t_ip) * t_ip))
    thumb_axis = _unit(np.cross(t_ip, d_ip)) if np.dot(t_ip, d_ip) < np.cos(np.radians(HINGE_PLANE_MIN_DEG)) else guess
    thumb_axis = thumb_axis * np.sign(np.dot(thumb_axis, guess))
    A = np.zeros((15, 3, 3))
    Q = np.zeros((15, 3, 3))
    for j in range(1, 16):
        parent = MANO16_PARENTS[j]
        thumb = j in _THUMB
        if j == 13:  # thumb CMC: neutral is alongside the index metacarpal
            prox = idx_mcp - wrist
        elif parent == 0:  # finger MCP: the wrist-to-MCP line stands for the metacarpal
            prox = p[j] - wrist
        else:
            prox = p[j] - p[parent]
        t = _unit(prox)
        flex = -r if thumb else n
        b = np.cross(t, _unit(flex - np.dot(flex, t) * t))
        if j in (14, 15):
            b = thumb_axis
        if parent != 0 and j != 13:  # hinge joint: bend axis normal to the plane its bones span at rest
            d = _unit(p[MANO16_CHILD_POINT[j]] - p[j])
            if np.degrees(np.arccos(np.clip(np.dot(t, d), -1, 1))) > HINGE_PLANE_MIN_DEG:
                b = _unit(np.cross(t, d)) * np.sign(np.dot(np.cross(t, d), b))
            else:  # nearly straight at rest: use the plane of the whole finger chain
                base = parent if MANO16_PARENTS[parent] == 0 else MANO16_PARENTS[parent]
                chain = [base, base + 1, base + 2, MANO16_CHILD_POINT[base + 2]]
                b = _chain_plane_normal(p[chain], b)
            b = _unit(b - np.dot(b, t) * t)
        s = np.cross(t, b)
        A[j - 1] = np.stack([b, s, t], 1)
        Q[j - 1] = _zero_twist_offset(A[j - 1], _unit(p[MANO16_CHILD_POINT[j]] - p[j]))
    return A, Q


def anatomical_frames(rest_keypoints: np.ndarray, side: str) -> tuple[np.ndarray, np.ndarray]:
    """Frames A and offsets Q (15, 3, 3) for either side from MANO-21 rest keypoints (21, 3)."""
    if side == "right":
        return right_hand_frames(rest_keypoints)
    A, Q = right_hand_frames(rest_keypoints @ _M)
    return _M @ A, _M @ Q @ _M


class Anatomy(torch.nn.Module):
    """Conversions between joint rotations and anatomical Euler angles for one hand model."""

    def __init__(self, A: np.ndarray, Q: np.ndarray, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        self.register_buffer("A", torch.as_tensor(A, dtype=dtype))
        self.register_buffer("Q", torch.as_tensor(Q, dtype=dtype))

    @classmethod
    def from_hand_model(cls, model) -> Anatomy:
        """Frames from the model's template rest skeleton (beta = 0)."""
        j = model.j_template.detach().cpu().double().numpy()
        tips = model.v_template.detach().cpu().double().numpy()[model.tip_vertex_ids.cpu().numpy()]
        A, Q = anatomical_frames(np.concatenate([j, tips], 0), model.side)
        return cls(A, Q, dtype=model.dtype).to(model.device)

    def rotations_to_euler(self, R: torch.Tensor) -> torch.Tensor:
        """Local joint rotations (B, 15, 3, 3) -> anatomical angles (B, 15, 3) in radians: bend, splay, twist."""
        A, Q = self.A.to(R.dtype), self.Q.to(R.dtype)
        E = A.transpose(-1, -2) @ R @ Q @ A
        return matrix_to_euler(E, EULER_ORDER)

    def euler_to_rotations(self, angles: torch.Tensor) -> torch.Tensor:
        """Anatomical angles (B, 15, 3) -> local joint rotations (B, 15, 3, 3) (inverse of `rotations_to_euler`)."""
        E = euler_to_matrix(angles, EULER_ORDER)
        lead = angles.shape[:-2]
        E9 = E.reshape(-1, 15, 9).transpose(0, 1)  # (15, N, 9)
        return (E9 @ self._frame_map(angles.dtype)).transpose(0, 1).reshape(*lead, 15, 3, 3)

    def _frame_map(self, dtype: torch.dtype) -> torch.Tensor:
        """(15, 9, 9) M^T with vec(A E (A^T Q^T)) = M vec(E) per joint (row-major vec): one matrix product
        per joint over a whole batch instead of two per sample and joint (a fit converts hundreds of rows
        per call). Cached per dtype with the frames it came from."""
        key = (dtype, self.A.device, self.A.data_ptr(), self.Q.data_ptr(), self.A._version, self.Q._version)
        cache = self.__dict__.setdefault("_frame_maps", {})
        if key not in cache:
            A, Q = self.A.detach().to(dtype), self.Q.detach().to(dtype)
            C = A.transpose(-1, -2) @ Q.transpose(-1, -2)
            M = (A[:, :, None, :, None] * C.transpose(-1, -2)[:, None, :, None, :]).reshape(15, 9, 9)
            cache.clear()
            cache[key] = M.transpose(-1, -2).contiguous()
        return cache[key]

    def rest_angles(self) -> torch.Tensor:
        """Anatomical angles (15, 3) of the model's rest pose (identity rotations)."""
        eye = torch.eye(3, dtype=self.A.dtype, device=self.A.device).expand(1, 15, 3, 3)
        return self.rotations_to_euler(eye)[0]


def keypoint_angles(keypoints: torch.Tensor, side: str = "right", order: str = "openpose") -> torch.Tensor:
    """Bend and splay (B, 15, 2), radians, of the 15 finger joints read off 21 posed 3D keypoints.

    The frames are the anatomical frames' recipe applied to the posed skeleton: twist axis along the
    proximal bone, flexion towards the palm normal (ulnar direction for the thumb); with E = R_b(bend)
    R_s(splay) the distal bone is (sin splay, -sin bend cos splay, cos bend cos splay) in (b, s, t). Twist
    cannot be observed from joint positions, nor the splay of hinge joints (reported as 0: their plane is
    their own). For model-free predictions (S2HAND's joint-angle regulariser); MANO hand_pose joint order.
    """
    from handrecon.hand.keypoints import convert_keypoints

    p = convert_keypoints(keypoints, order, "mano") if order != "mano" else keypoints
    if side == "left":
        p = p * p.new_tensor([-1.0, 1.0, 1.0])
    unit = torch.nn.functional.normalize
    wrist, idx_mcp, pinky_mcp = p[:, 0], p[:, 1], p[:, 7]
    n = unit(torch.cross(idx_mcp - wrist, pinky_mcp - wrist, dim=-1), dim=-1)
    r = unit(idx_mcp - pinky_mcp, dim=-1)
    out = []
    for j in range(1, 16):
        parent = MANO16_PARENTS[j]
        if j == 13:
            prox = idx_mcp - wrist
        elif parent == 0:
            prox = p[:, j] - wrist
        else:
            prox = p[:, j] - p[:, parent]
        t = unit(prox, dim=-1)
        flex = -r if j in _THUMB else n
        f = unit(flex - (flex * t).sum(-1, keepdim=True) * t, dim=-1)
        b = torch.cross(t, f, dim=-1)
        s = torch.cross(t, b, dim=-1)
        d = unit(p[:, MANO16_CHILD_POINT[j]] - p[:, j], dim=-1)
        if parent != 0 and j != 13:
            # hinge: its own plane sets the axis (fingers need not flex towards the palm normal), so only
            # the signed angle between the bones is read; positive when it turns towards the flexion side
            axis = torch.cross(t, d, dim=-1)
            sign = torch.where((axis * b).sum(-1) >= 0, 1.0, -1.0).to(d.dtype)
            bend = sign * torch.atan2(axis.norm(dim=-1), (t * d).sum(-1))
            out.append(torch.stack([bend, torch.zeros_like(bend)], -1))
            continue
        db, ds, dt = (d * b).sum(-1), (d * s).sum(-1), (d * t).sum(-1)
        splay = torch.asin(db.clamp(-1 + 1e-7, 1 - 1e-7))
        bend = torch.atan2(-ds, dt)
        out.append(torch.stack([bend, splay], -1))
    return torch.stack(out, 1)
