"""Rotation representations: axis-angle, matrices, quaternions (w, x, y, z), Euler angles, 6D.

All functions are batched over leading dimensions, differentiable (including at the identity, where
axis-angle conversions use Taylor expansions), and dtype/device agnostic; a few NumPy helpers at the end
build single rotations for scene construction (random, about an axis, from two axes).
"""

from __future__ import annotations

import numpy as np
import torch

_AXES = {"X": 0, "Y": 1, "Z": 2}


def skew(v: torch.Tensor) -> torch.Tensor:
    """(..., 3) -> (..., 3, 3) cross-product matrix [v]_x."""
    x, y, z = v.unbind(-1)
    o = torch.zeros_like(x)
    return torch.stack([o, -z, y, z, o, -x, -y, x, o], dim=-1).reshape(*v.shape[:-1], 3, 3)


def axis_angle_to_matrix(aa: torch.Tensor) -> torch.Tensor:
    """Rodrigues' formula, (..., 3) -> (..., 3, 3); exact gradients at zero rotation."""
    t2 = (aa * aa).sum(-1, keepdim=True)[..., None]  # (..., 1, 1)
    small = t2 < 1e-6
    t2s = torch.where(small, torch.ones_like(t2), t2)
    t = t2s.sqrt()
    a = torch.where(small, 1 - t2 / 6 + t2 * t2 / 120, torch.sin(t) / t)
    b = torch.where(small, 0.5 - t2 / 24 + t2 * t2 / 720, (1 - torch.cos(t)) / t2s)
    K = skew(aa)
    eye = torch.eye(3, dtype=aa.dtype, device=aa.device).expand_as(K)
    # K K = aa aa^T - |aa|^2 I: an outer product instead of a batched 3x3 product
    return eye + a * K + b * (aa[..., :, None] * aa[..., None, :] - t2 * eye)


def quaternion_to_matrix(q: torch.Tensor) -> torch.Tensor:
    """(..., 4) quaternion (w, x, y, z), normalised here -> (..., 3, 3)."""
    q = q / q.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    w, x, y, z = q.unbind(-1)
    m = [
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
    ]  # fmt: skip
    return torch.stack(m, dim=-1).reshape(*q.shape[:-1], 3, 3)


def matrix_to_quaternion(R: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) -> (..., 4) unit quaternion (w, x, y, z) with w >= 0.

    Uses the numerically best of the four candidate solutions (largest diagonal term) per matrix.
    """
    m00, m01, m02 = R[..., 0, 0], R[..., 0, 1], R[..., 0, 2]
    m10, m11, m12 = R[..., 1, 0], R[..., 1, 1], R[..., 1, 2]
    m20, m21, m22 = R[..., 2, 0], R[..., 2, 1], R[..., 2, 2]
    tr = torch.stack([1 + m00 + m11 + m22, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22], -1)
    # Four candidates (rows), each proportional to q, scaled by 4 * (its largest component).
    cands = torch.stack(
        [
            torch.stack([tr[..., 0], m21 - m12, m02 - m20, m10 - m01], -1),
            torch.stack([m21 - m12, tr[..., 1], m10 + m01, m02 + m20], -1),
            torch.stack([m02 - m20, m10 + m01, tr[..., 2], m12 + m21], -1),
            torch.stack([m10 - m01, m20 + m02, m21 + m12, tr[..., 3]], -1),
        ],
        dim=-2,
    )
    best = tr.argmax(-1)
    denom = 2 * tr.gather(-1, best[..., None]).clamp_min(1e-12).sqrt()
    q = cands.gather(-2, best[..., None, None].expand(*best.shape, 1, 4)).squeeze(-2) / denom
    return q * torch.where(q[..., :1] < 0, -1.0, 1.0).to(q.dtype)


def quaternion_to_axis_angle(q: torch.Tensor) -> torch.Tensor:
    """(..., 4) (w, x, y, z) -> (..., 3) axis-angle with angle in [0, pi]."""
    q = q / q.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    q = q * torch.where(q[..., :1] < 0, -1.0, 1.0).to(q.dtype)
    w, v = q[..., :1], q[..., 1:]
    s2 = (v * v).sum(-1, keepdim=True)
    small = s2 < 1e-12
    s = torch.where(small, torch.ones_like(s2), s2).sqrt()
    angle = 2 * torch.atan2(s, w)
    # angle / sin(angle/2); near zero sin(a/2) ~ s and angle ~ 2 s / w.
    scale = torch.where(small, 2 / w.clamp_min(1e-12) * (1 - s2 / (3 * w * w).clamp_min(1e-12)), angle / s)
    return v * scale


def matrix_to_axis_angle(R: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) -> (..., 3) axis-angle (angle in [0, pi])."""
    return quaternion_to_axis_angle(matrix_to_quaternion(R))


def axis_angle_to_quaternion(aa: torch.Tensor) -> torch.Tensor:
    """(..., 3) -> (..., 4) (w, x, y, z)."""
    t2 = (aa * aa).sum(-1, keepdim=True)
    small = t2 < 1e-6
    t = torch.where(small, torch.ones_like(t2), t2).sqrt()
    half = torch.where(small, 0.5 - t2 / 48, torch.sin(t / 2) / t)
    w = torch.where(small, 1 - t2 / 8, torch.cos(t / 2))
    return torch.cat([w, aa * half], -1)


def _axis_rotation(axis: int, angle: torch.Tensor) -> torch.Tensor:
    c, s = torch.cos(angle), torch.sin(angle)
    o, i = torch.zeros_like(angle), torch.ones_like(angle)
    if axis == 0:
        m = [i, o, o, o, c, -s, o, s, c]
    elif axis == 1:
        m = [c, o, s, o, i, o, -s, o, c]
    else:
        m = [c, -s, o, s, c, o, o, o, i]
    return torch.stack(m, -1).reshape(*angle.shape, 3, 3)


def _parse_order(order: str) -> tuple[int, int, int, float]:
    order = order.upper()
    if len(order) != 3 or set(order) != {"X", "Y", "Z"}:
        raise ValueError(f"Euler order must be a permutation of 'XYZ' (Tait-Bryan), got {order!r}")
    i, j, k = (_AXES[c] for c in order)
    parity = 1.0 if (i, j, k) in ((0, 1, 2), (1, 2, 0), (2, 0, 1)) else -1.0
    return i, j, k, parity


def euler_to_matrix(angles: torch.Tensor, order: str = "XYZ") -> torch.Tensor:
    """Intrinsic Tait-Bryan angles (..., 3) in radians -> (..., 3, 3) = R_a(angles[0]) R_b(.) R_c(.).

    `order` names the axes of the three successive rotations about the moving frame's axes.
    """
    i, j, k, _ = _parse_order(order)
    if (i, j, k) == (0, 1, 2):  # the anatomical order (`handrecon.hand.anatomy`): the product written out
        (ca, cb, cc), (sa, sb, sc) = torch.cos(angles).unbind(-1), torch.sin(angles).unbind(-1)
        sa_sb, ca_sb = sa * sb, ca * sb
        m = [
            cb * cc, -cb * sc, sb,
            sa_sb * cc + ca * sc, ca * cc - sa_sb * sc, -sa * cb,
            sa * sc - ca_sb * cc, ca_sb * sc + sa * cc, ca * cb,
        ]  # fmt: skip
        return torch.stack(m, -1).reshape(*angles.shape, 3)
    a, b, c = angles.unbind(-1)
    return _axis_rotation(i, a) @ _axis_rotation(j, b) @ _axis_rotation(k, c)


def matrix_to_euler(R: torch.Tensor, order: str = "XYZ") -> torch.Tensor:
    """Inverse of `euler_to_matrix`: (..., 3, 3) -> (..., 3); the middle angle lies in [-pi/2, pi/2].

    Singular (gimbal lock) only where the middle angle reaches +-pi/2; choose `order` so that the
    axis with the smallest range of motion is the middle one.
    """
    i, j, k, s = _parse_order(order)
    Rik = R[..., i, k]
    cos_b = (R[..., i, i] ** 2 + R[..., i, j] ** 2 + 1e-20).sqrt()
    b = torch.atan2(s * Rik, cos_b)
    a = torch.atan2(-s * R[..., j, k], R[..., k, k])
    c = torch.atan2(-s * R[..., i, j], R[..., i, i])
    return torch.stack([a, b, c], -1)


def rotation_6d_to_matrix(d6: torch.Tensor) -> torch.Tensor:
    """Continuous 6D representation (Zhou et al., CVPR 2019): two columns, Gram-Schmidt -> (..., 3, 3)."""
    a1, a2 = d6[..., :3], d6[..., 3:]
    b1 = torch.nn.functional.normalize(a1, dim=-1)
    b2 = torch.nn.functional.normalize(a2 - (b1 * a2).sum(-1, keepdim=True) * b1, dim=-1)
    b3 = torch.cross(b1, b2, dim=-1)
    return torch.stack([b1, b2, b3], dim=-1)


def matrix_to_rotation_6d(R: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) -> (..., 6): the first two columns."""
    return torch.cat([R[..., :, 0], R[..., :, 1]], -1)


def as_rotation_matrix(x: torch.Tensor) -> torch.Tensor:
    """Accept axis-angle (..., 3) or rotation matrices (..., 3, 3); return matrices."""
    if x.shape[-2:] == (3, 3):
        return x
    if x.shape[-1] == 3:
        return axis_angle_to_matrix(x)
    raise ValueError(f"expected axis-angle (..., 3) or rotation matrices (..., 3, 3), got shape {tuple(x.shape)}")


def geodesic_angle(R1: torch.Tensor, R2: torch.Tensor) -> torch.Tensor:
    """Angle (radians) of R1^T R2, (..., 3, 3) x2 -> (...)."""
    return matrix_to_axis_angle(R1.transpose(-1, -2) @ R2).norm(dim=-1)


# ---------------------------------------------------------------------------------------------------
# NumPy helpers for scene construction (float64, one rotation at a time).


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """Uniformly distributed rotation matrix (3, 3): a normalised Gaussian quaternion."""
    return quaternion_to_matrix(torch.from_numpy(rng.standard_normal(4))).numpy()


def axis_rotation(axis: np.ndarray, angle: float) -> np.ndarray:
    """Rotation (3, 3) by `angle` radians about `axis` (any length)."""
    a = np.asarray(axis, dtype=np.float64)
    return axis_angle_to_matrix(torch.from_numpy(a / np.linalg.norm(a) * angle)).numpy()


def frame_from_axes(distal: np.ndarray, palmar_hint: np.ndarray) -> np.ndarray:
    """Rotation (3, 3) taking +y to the direction `distal` and +z to (the part orthogonal to it of)
    `palmar_hint`: for a hand model, its canonical distal (+y) and palmar (+z) axes. Left and right models
    share these two axes (the left model mirrors x only), so the same rotation serves both."""
    y = distal / np.linalg.norm(distal)
    z = palmar_hint - palmar_hint.dot(y) * y
    z /= np.linalg.norm(z)
    return np.stack([np.cross(y, z), y, z], 1)
