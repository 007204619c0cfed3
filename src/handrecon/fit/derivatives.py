"""Exact derivatives of the fit's residual terms (`fit.energy`) with respect to their inputs, for the
analytic Jacobian of `fit.refine` (the keypoints' own derivatives come from `fit.joints_forward`).

Where a term is piecewise linear (the range terms), the derivative is the one a forward difference sees:
the slope of the piece that a small increase of the parameter moves along. The fit's projection puts
angles exactly on the bounds, so the choice at a kink matters there; it is the finite-difference
Jacobian's own, which keeps the two selectable Jacobians taking the same steps.
"""

from __future__ import annotations

import torch

from handrecon.geometry.camera import Z_EPS
from handrecon.priors.knowledge import functional_range_slopes

# Pieces of a max() whose values lie within this of the largest are ties (the fit's clamps leave angles
# within rounding of a bound).
_TIE = 1e-12
# residual row a of a joint depends on its own angle a and on its coupled angle: bend <-> splay
_EYE3 = torch.eye(3, dtype=torch.float64)
_PARTNER = torch.tensor([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]], dtype=torch.float64)


def projection_jacobian(points: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """d pixels / d camera-frame point (N, J, 2, 3) of `geometry.camera.project_points` (K (3, 3) or
    (N, 3, 3)); depths clamped at Z_EPS have no depth derivative."""
    Kb = K if K.dim() == 3 else K[None]
    fx, fy = Kb[:, 0, 0, None], Kb[:, 1, 1, None]
    sk = Kb[:, 0, 1, None]
    x, y, z = points.unbind(-1)
    zc = z.clamp_min(Z_EPS)
    inv = 1 / zc
    dz = torch.where(z > Z_EPS, -inv * inv, 0.0)
    zero = torch.zeros_like(x)
    du = torch.stack([fx * inv, sk * inv, (fx * x + sk * y) * dz], -1)
    dv = torch.stack([zero, fy * inv, fy * y * dz], -1)
    return torch.stack([du, dv], -2)


def world_residuals_jacobian(
    joints: torch.Tensor, d_joints: torch.Tensor, world: torch.Tensor, has_world: torch.Tensor
) -> torch.Tensor:
    """d `fit.energy.world_residuals` (N, 63, P) from joints (N, 21, 3) and their derivatives (N, 21, 3, P).

    The residual is rel_j - |rel_j| w, with w the unit-size landmark shape: the model's size varies with
    the parameters here too (what the finite-difference Jacobian sees; `world_residuals` explains why)."""
    N, P = joints.shape[0], d_joints.shape[-1]
    rel = (joints - joints[:, :1]).reshape(N, 63)
    rel_w = (world - world[:, :1]).reshape(N, 63)
    size = rel.norm(dim=1, keepdim=True).clamp_min(1e-9)
    w_hat = rel_w / rel_w.norm(dim=1, keepdim=True).clamp_min(1e-9)
    d_rel = (d_joints - d_joints[:, :1]).reshape(N, 63, P)
    d_size = (rel[:, :, None] * d_rel).sum(1, keepdim=True) / size[..., None]  # (N, 1, P)
    return (d_rel - w_hat[:, :, None] * d_size) * has_world[:, None, None].to(joints.dtype)


def pose_residuals_jacobian(
    angles: torch.Tensor, rom: torch.Tensor, tolerance_rad: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """`fit.energy.pose_residuals` (violations v and their part beyond the tolerance, each (N, 45)) and
    their derivatives with respect to the angles (N, 45, 45): each joint's block couples bend and splay.

    v = max(theta - hi, lo - theta, 0): a tied piece (within rounding) counts if a small increase of the
    parameter makes it the largest, i.e. the derivative is the largest slope among the tied pieces."""
    ranges, slopes = functional_range_slopes(angles, rom)
    upper, lower = angles - ranges[..., 1], ranges[..., 0] - angles
    v = torch.maximum(torch.maximum(upper, lower), torch.zeros_like(angles))
    b = (v - tolerance_rad).clamp_min(0)
    low = torch.finfo(angles.dtype).min
    d_hi, d_lo = -slopes[..., 1], slopes[..., 0]  # slopes of the upper and lower pieces w.r.t. the partner

    def block(value: torch.Tensor, shift: float) -> torch.Tensor:
        up = upper - shift >= value - _TIE
        dn = lower - shift >= value - _TIE
        zero = value <= _TIE
        d_self = torch.where(up, 1.0, torch.where(zero, 0.0, -1.0))
        d_partner = torch.maximum(torch.where(up, d_hi, low), torch.where(dn, d_lo, low))
        d_partner = torch.where(zero, d_partner.clamp_min(0), d_partner)
        return _EYE3.to(angles.dtype) * d_self[..., None] + _PARTNER.to(angles.dtype) * d_partner[..., None]

    N = angles.shape[0]
    return v.reshape(N, 45), b.reshape(N, 45), _block_diagonal(block(v, 0.0)), _block_diagonal(block(b, tolerance_rad))


def _block_diagonal(blocks: torch.Tensor) -> torch.Tensor:
    """(N, 15, 3, 3) per-joint blocks -> (N, 45, 45)."""
    N = blocks.shape[0]
    eye = torch.eye(15, dtype=blocks.dtype)
    return (blocks[:, :, :, None, :] * eye[:, None, :, None]).reshape(N, 45, 45)
