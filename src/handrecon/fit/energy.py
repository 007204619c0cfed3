"""The fitting energy of the knowledge-prior method (Zhang et al.), assembled from `handrecon.priors` terms.

E = w_2d * NLL(2D keypoints | per-joint sigma)          (eq. 7, pixels)
  + w_pose * L_pose(anatomical angles, functional ranges)  (eq. 1-3, radians^2; stiffer beyond a tolerance)
  + w_pen * sum_v max(d(v) - d_tol, 0)^2                   (eq. 4's summands squared, m^2, `penetration_excess`;
                                                           only for the vertices found inside, see `fit.refine`)
  + w_shape * ||beta||^2                                   (sec. 3.2, squared: smooth at the mean shape)
  + sum_j (log s_j / sigma_s)^2 / 2                        (segment-length scales, `HandModel` bone_scales)
  + w_world * sum_j ||(J_j - J_0) - c (W_j - W_0)||^2      (weak pull to the detector's 3D landmarks at the
                                                           model's scale c, m^2)
  + w_temporal * ||x_t - x_{t-1}||^2                       (video: stay near the previous frame's solution)
  + w_two_hand * two-hand penetration                      (two hands in one image)

All but the two-hand term are sums of squares; `fit.refine` assembles them as one residual vector per
hand for the Levenberg-Marquardt solver (`fit.lm`). The non-penetration term is eq. 4 with its hinge
squared: the same zero set (no vertex deeper than d_tol), in the form a least-squares solver takes.
The weights differ from the paper's training weights (lambda1 = lambda2 = 20000, lambda3 = 10) because
the data term's units differ: here it is a per-joint NLL in pixels of the full image; a 1-degree range
violation costs about as much as a one-sigma keypoint error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from handrecon.io.errors import SettingError
from handrecon.priors.knowledge import functional_ranges, range_violation


@dataclass(frozen=True)
class FitWeights:
    keypoints_2d: float = 1.0
    pose: float = 300.0
    penetration: float = 1e6  # per m^2: 5 mm beyond d_tol costs 25 per vertex
    shape: float = 1.0
    world: float = 500.0
    # Absolute 3D joints (per m^2), for observations whose 3D joints are labels in metres (converting a
    # dataset's labels to hand-model parameters); 0 (off) for detections, whose 3D size is unknown.
    world_metric: float = 0.0
    temporal: float = 0.0
    two_hand: float = 50000.0
    # Beyond `pose_tolerance_deg` outside a range, a much stiffer penalty: the fit may trade a few degrees
    # of range for the keypoints, never more (the plausibility report's tolerance is 5 degrees).
    pose_beyond_tolerance: float = 1e6
    pose_tolerance_deg: float = 3.0
    # Finger proportions beyond the shape space: Gaussian prior on log segment-length scales. Wide enough
    # for the bundled asset's short proximal phalanges (MakeHuman's rig: ~26 mm against ~40 mm between
    # labelled knuckles, a scale of ~1.5, log 0.4, 1.4 sigma). The palm's length is the shape space's job
    # (and sets the hand's metric size, hence its depth): a tight prior.
    bone_scale_sigma: float = 0.3
    palm_scale_sigma: float = 0.03
    # Robust 2D data term (off by default): each joint's sigma-normalised reprojection error u is weighted
    # by `robust_keypoint_weights` (iteratively reweighted least squares, weights refreshed at every
    # linearisation of the main Levenberg-Marquardt stage), so that a keypoint the detector misplaced by
    # many sigmas pulls less. "none", "huber", "cauchy" or "geman_mcclure"; scale c in sigma units.
    keypoint_kernel: str = "none"
    keypoint_kernel_scale: float = 2.0
    # The joints (OpenPose order) the kernel applies to; None: all 21. The others keep weight 1.
    keypoint_kernel_joints: tuple[int, ...] | None = None
    # Per-joint weights of the 3D-landmark term (OpenPose order, 21 values >= 0, each multiplying its
    # joint's squared residual; None: all 1, the default). E.g. 0 at the finger MCPs, whose detector
    # landmarks follow another convention than the hand model's joints (off by default).
    world_joint_weights: tuple[float, ...] | None = None


def keypoint_residuals(
    projected: torch.Tensor, keypoints: torch.Tensor, sigma: torch.Tensor, valid: torch.Tensor
) -> torch.Tensor:
    """(N, 42): (pi(J) - p) / sigma, so that 0.5 ||r||^2 is the data term of eq. 7 (without its log-sigma
    part, constant in the fit); invalid joints give 0."""
    return ((projected - keypoints) / sigma[..., None] * valid[..., None].to(projected.dtype)).reshape(
        projected.shape[0], -1
    )


ROBUST_KERNELS = ("none", "huber", "cauchy", "geman_mcclure")


def robust_keypoint_weights(u: np.ndarray, kernel: str, c: float) -> np.ndarray:
    """IRLS weights w(u) = rho'(u) / u of a robust kernel at sigma-normalised errors u >= 0 (any shape):
    with w held fixed, 0.5 w u^2 has the kernel's gradient at u. Huber: 1 for u <= c, c / u beyond;
    Cauchy: 1 / (1 + (u/c)^2); Geman-McClure: 1 / (1 + (u/c)^2)^2; "none": 1."""
    if kernel not in ROBUST_KERNELS:
        raise SettingError("fit.keypoint_kernel", f"unknown kernel {kernel!r}; choose from {', '.join(ROBUST_KERNELS)}")
    if not c > 0:
        raise SettingError("fit.keypoint_kernel_scale", f"must be positive, got {c}")
    u = np.abs(np.asarray(u, dtype=np.float64))
    if kernel == "none":
        return np.ones_like(u)
    if kernel == "huber":
        return np.where(u <= c, 1.0, c / np.maximum(u, 1e-300))
    q = 1.0 / (1.0 + (u / c) ** 2)
    return q if kernel == "cauchy" else q * q


def world_row_factors(weights: tuple[float, ...] | None) -> np.ndarray | None:
    """(63,) factors sqrt(w_j) on the 3D-landmark term's residual rows (x, y, z of each joint) from
    `FitWeights.world_joint_weights`, so that joint j's squared residual is scaled by w_j; None for None."""
    if weights is None:
        return None
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (21,):
        raise SettingError("fit.world_joint_weights", f"needs 21 values (one per joint), got shape {w.shape}")
    if not (np.isfinite(w).all() and (w >= 0).all()):
        raise SettingError("fit.world_joint_weights", f"must be finite and >= 0, got {weights}")
    return np.repeat(np.sqrt(w), 3)


def world_residuals(joints: torch.Tensor, world: torch.Tensor, has_world: torch.Tensor) -> torch.Tensor:
    """(N, 63): root-relative model joints minus the root-relative detector landmarks brought to the model's
    size (metres). Scale-free on purpose: the detector's 3D landmarks constrain the pose's 3D shape, while
    their overall size varies from photo to photo (the hand's size, hence its depth, comes from the shape
    prior)."""
    rel_j = joints - joints[:, :1]
    rel_w = world - world[:, :1]
    size_j = rel_j.flatten(1).norm(dim=1).clamp_min(1e-9)[:, None, None]
    size_w = rel_w.flatten(1).norm(dim=1).clamp_min(1e-9)[:, None, None]
    # Unit-size shapes compared, in metres of the model's current size. `detach` holds that size fixed for
    # gradients; the fit's numerical Jacobian sees it, which makes the term favour a slightly smaller hand
    # (the shape prior balances it); a constant metre scale placed synthetic hands no better.
    r = (rel_j / size_j - rel_w / size_w) * size_j.detach()
    return (r * has_world[:, None, None].to(joints.dtype)).reshape(joints.shape[0], -1)


def metric_world_residuals(joints: torch.Tensor, world: torch.Tensor, has_world: torch.Tensor) -> torch.Tensor:
    """(N, 63): model joints minus labelled 3D joints (metres, camera frame), for `FitWeights.world_metric`."""
    return ((joints - world) * has_world[:, None, None].to(joints.dtype)).reshape(joints.shape[0], -1)


def pose_residuals(
    angles: torch.Tensor, rom: torch.Tensor, tolerance_rad: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, 45) range violations under the functional-anatomy ranges (their squared sum is eq. 1), and
    (N, 45) the part of each violation beyond `tolerance_rad`."""
    v = range_violation(angles, functional_ranges(angles, rom)).reshape(angles.shape[0], -1)
    return v, (v - tolerance_rad).clamp_min(0)


def sqrt2_weight(w: float) -> float:
    """Factor turning a residual r into one whose 0.5 ||.||^2 equals w * ||r||^2."""
    return math.sqrt(2.0 * w)
