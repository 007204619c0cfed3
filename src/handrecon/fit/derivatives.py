"""Exact derivatives of the fit's residual terms (`fit.energy`) with respect to their inputs, for the
analytic Jacobian of `fit.refine` (the keypoints' own derivatives come from `fit.joints_forward`), with
their values: NumPy twins of the torch terms (float64, small arrays, see `fit.joints_forward`), which the
tests hold equal to them.

Where a term is piecewise linear (the range terms), the derivative is the one a forward difference sees:
the slope of the piece that a small increase of the parameter moves along. The fit's projection puts
angles exactly on the bounds, so the choice at a kink matters there; it is the finite-difference
Jacobian's own, which keeps the two selectable Jacobians taking the same steps.
"""

from __future__ import annotations

import numpy as np
import torch

from handrecon.geometry.camera import Z_EPS
from handrecon.priors.knowledge import functional_range_slopes, functional_ranges_numpy

# Pieces of a max() whose values lie within this of the largest are ties (the fit's clamps leave angles
# within rounding of a bound).
_TIE = 1e-12
# residual row a of a joint depends on its own angle a and on its coupled angle: bend <-> splay
_EYE3 = np.eye(3)
_JOINTS = np.arange(15)
_PARTNER = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])


def projection_jacobian(points: np.ndarray, K: np.ndarray) -> np.ndarray:
    """d pixels / d camera-frame point (N, J, 2, 3) of `geometry.camera.project_points` for one K (3, 3);
    depths clamped at Z_EPS have no depth derivative."""
    fx, fy, sk = K[0, 0], K[1, 1], K[0, 1]
    x, y, z = points[..., 0], points[..., 1], points[..., 2]
    inv = 1 / np.maximum(z, Z_EPS)
    dz = np.where(z > Z_EPS, -inv * inv, 0.0)
    out = np.zeros((*points.shape[:-1], 2, 3))
    out[..., 0, 0] = fx * inv
    out[..., 0, 1] = sk * inv
    out[..., 0, 2] = (fx * x + sk * y) * dz
    out[..., 1, 1] = fy * inv
    out[..., 1, 2] = fy * y * dz
    return out


def world_residuals_jacobian(
    joints: np.ndarray, d_joints: np.ndarray, world: np.ndarray, has_world: np.ndarray
) -> np.ndarray:
    """d `fit.energy.world_residuals` (N, 63, P) from joints (N, 21, 3) and their derivatives (N, 21, 3, P).

    The residual is rel_j - |rel_j| w, with w the unit-size landmark shape: the model's size varies with
    the parameters here too (what the finite-difference Jacobian sees; `world_residuals` explains why)."""
    N, P = joints.shape[0], d_joints.shape[-1]
    rel = (joints - joints[:, :1]).reshape(N, 63)
    rel_w = (world - world[:, :1]).reshape(N, 63)
    size = np.maximum(np.sqrt((rel * rel).sum(1, keepdims=True)), 1e-9)
    w_hat = rel_w / np.maximum(np.sqrt((rel_w * rel_w).sum(1, keepdims=True)), 1e-9)
    d_rel = (d_joints - d_joints[:, :1]).reshape(N, 63, P)
    d_size = (rel[:, None, :] @ d_rel) / size[..., None]  # (N, 1, P)
    return (d_rel - w_hat[:, :, None] * d_size) * has_world[:, None, None]


def project(points: np.ndarray, K: np.ndarray) -> np.ndarray:
    """`geometry.camera.project_points` for one K (3, 3): pixels (N, J, 2)."""
    z = np.maximum(points[..., 2], Z_EPS)
    x, y = points[..., 0] / z, points[..., 1] / z
    return np.stack([K[0, 0] * x + K[0, 1] * y + K[0, 2], K[1, 1] * y + K[1, 2]], -1)


def world_residuals(joints: np.ndarray, world: np.ndarray, has_world: np.ndarray) -> np.ndarray:
    """`fit.energy.world_residuals` (N, 63) (see there)."""
    N = joints.shape[0]
    rel = (joints - joints[:, :1]).reshape(N, 63)
    rel_w = (world - world[:, :1]).reshape(N, 63)
    size = np.maximum(np.sqrt((rel * rel).sum(1, keepdims=True)), 1e-9)
    size_w = np.maximum(np.sqrt((rel_w * rel_w).sum(1, keepdims=True)), 1e-9)
    return (rel / size - rel_w / size_w) * size * has_world[:, None]


def pose_residuals(
    angles: np.ndarray, rom: torch.Tensor, tolerance_rad: float, jacobian: bool = False, dense: bool = True
) -> tuple[np.ndarray, ...]:
    """`fit.energy.pose_residuals` (violations v and their part beyond the tolerance, each (N, 45)), and with
    `jacobian` their derivatives with respect to the angles (N, 45, 45): each joint's block couples bend
    and splay (with `dense` False, just those blocks (N, 15, 3, 3), for `place_blocks`).

    v = max(theta - hi, lo - theta, 0): a tied piece (within rounding) counts if a small increase of the
    parameter makes it the largest, i.e. the derivative is the largest slope among the tied pieces."""
    N = angles.shape[0]
    # (the slopes only where the derivatives are asked for: the fit's trial points need the values only)
    ranges, slopes = functional_range_slopes(angles, rom) if jacobian else (functional_ranges_numpy(angles, rom), None)
    upper, lower = angles - ranges[..., 1], ranges[..., 0] - angles
    v = np.maximum(np.maximum(upper, lower), 0.0)
    b = np.maximum(v - tolerance_rad, 0.0)
    if not jacobian:
        return v.reshape(N, 45), b.reshape(N, 45)
    low = np.finfo(angles.dtype).min
    d_hi, d_lo = -slopes[..., 1], slopes[..., 0]  # slopes of the upper and lower pieces w.r.t. the partner

    def block(value: np.ndarray, shift: float) -> np.ndarray:
        up = upper - shift >= value - _TIE
        dn = lower - shift >= value - _TIE
        zero = value <= _TIE
        d_self = np.where(up, 1.0, np.where(zero, 0.0, -1.0))
        d_partner = np.maximum(np.where(up, d_hi, low), np.where(dn, d_lo, low))
        d_partner = np.where(zero, np.maximum(d_partner, 0.0), d_partner)
        return _EYE3 * d_self[..., None] + _PARTNER * d_partner[..., None]

    d_v, d_b = block(v, 0.0), block(b, tolerance_rad)
    if not dense:
        return v.reshape(N, 45), b.reshape(N, 45), d_v, d_b
    return v.reshape(N, 45), b.reshape(N, 45), _block_diagonal(d_v), _block_diagonal(d_b)


def _block_diagonal(blocks: np.ndarray) -> np.ndarray:
    """(N, 15, 3, 3) per-joint blocks -> (N, 45, 45)."""
    out = np.zeros((blocks.shape[0], 45, 45))
    place_blocks(out, blocks)
    return out


def place_blocks(out: np.ndarray, blocks: np.ndarray, factor: float = 1.0) -> None:
    """Write factor * per-joint blocks (N, 15, 3, 3) onto the block diagonal of out (N, 45, 45) (a view
    into a Jacobian's angle columns is fine; the rest of out is left as it is)."""
    grid = out.view()
    grid.shape = (blocks.shape[0], 15, 3, 15, 3)  # (setting the shape never copies: it raises instead)
    grid[:, _JOINTS, :, _JOINTS, :] = (factor * blocks).transpose(1, 0, 2, 3)
