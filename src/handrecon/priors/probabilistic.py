"""Losses of the probabilistic attention model AMVUR (Jiang et al., a probabilistic attention model with
occlusion-aware texture regression; sec. 3.1-3.2, 3.4).

The attention regressor predicts a diagonal Gaussian Q = N(mu_phi, diag(sigma_phi)) over mesh vertices;
the prior-net (the parametric hand model) gives P = N(mu_v, diag(sigma_v)) with sigma_v = 1 by default.
Joints follow through the joint regressor B (J, V) and 2D joints through the camera. Each supervised loss
(eq. 3, 5, 6) is the NLL of the ground truth under Q plus KL(Q || P).

Notation: as in the paper's N(mu, diag(sigma)), sigma is the *variance* throughout (the KL terms of
eq. 3/5/6 are written for variances). The printed NLL terms divide by sigma rather than sqrt(sigma) and
eq. 3 flips the log-ratio of the KL; both are read here as the exact Gaussian NLL and KL
(`handrecon.priors.gaussian`).

Reductions: each equation sums over all its dimensions m (vertices/joints x coordinates); the batch is
then reduced by `reduction` (default mean).
"""

from __future__ import annotations

from typing import Literal

import torch

from handrecon.geometry.camera import (
    Z_EPS,
    PerspectiveCamera,
    WeakPerspectiveCamera,
    project_points,
    weak_perspective_project,
)
from handrecon.geometry.rotations import as_rotation_matrix
from handrecon.priors.gaussian import gaussian_nll, kl_diag_gaussians, reparameterize
from handrecon.priors.masks import broadcast_mask
from handrecon.priors.reduction import (
    Reduction,
    check_same_shape,
    expand_weight,
    reduce_batch,
    squared_error,
    sum_per_sample,
)

Propagation = Literal["linear", "independent"]
Camera = PerspectiveCamera | WeakPerspectiveCamera

# Smallest variance kept after propagation, so that log/division stay finite.
MIN_VARIANCE: float = 1e-12


def _prior_var(prior_var: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor:
    """sigma_v, the prior-net's variance: 1 unless given (sec. 3.1)."""
    return torch.ones_like(like) if prior_var is None else prior_var.to(dtype=like.dtype, device=like.device)


def regress_gaussian(
    mean: torch.Tensor, var: torch.Tensor, regressor: torch.Tensor, propagation: Propagation = "linear"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Vertex Gaussians (B, V, 3) -> joint Gaussians (B, J, 3) through the joint regressor B (J, V).

    The mean is B mu. The variance is B sigma with "linear" (eq. 5 as printed, N_B(B mu, diag(B sigma)) in
    sec. 3.2) or B^2 sigma (elementwise square) with "independent", the exact variance of a linear map of
    independent vertices. Both are clamped to MIN_VARIANCE.
    """
    if mean.dim() != 3 or regressor.dim() != 2 or regressor.shape[1] != mean.shape[1]:
        raise ValueError(f"regressor {tuple(regressor.shape)} must be (J, V) for vertices {tuple(mean.shape)}")
    check_same_shape(mean=mean, var=var)
    b = regressor.to(dtype=mean.dtype, device=mean.device)
    if propagation == "linear":
        bv = b
    elif propagation == "independent":
        bv = b * b
    else:
        raise ValueError(f"unknown propagation {propagation!r}; expected 'linear' or 'independent'")
    joint_mean = torch.einsum("jv,bvc->bjc", b, mean)
    joint_var = torch.einsum("jv,bvc->bjc", bv, var).clamp_min(MIN_VARIANCE)
    return joint_mean, joint_var


def rotate_gaussian(mean: torch.Tensor, var: torch.Tensor, rotation: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotate diagonal Gaussians (B, N, 3) by R (B, 3, 3) or axis-angle (B, 3): x' = R x.

    The variance is the diagonal of R diag(sigma) R^T, i.e. (R * R) sigma (the off-diagonal covariance that
    a rotation creates is dropped, keeping the model diagonal).
    """
    R = as_rotation_matrix(rotation).to(dtype=mean.dtype, device=mean.device)
    return torch.einsum("bij,bnj->bni", R, mean), torch.einsum("bij,bnj->bni", R * R, var)


def project_gaussian(mean: torch.Tensor, var: torch.Tensor, camera: Camera) -> tuple[torch.Tensor, torch.Tensor]:
    """Camera-frame Gaussians (B, N, 3) -> pixel Gaussians (B, N, 2): the S_m(.) of eq. 6.

    Weak perspective (u = s x + tx): mean through `weak_perspective_project`, variance s^2 sigma_xy.
    Full perspective: mean through `project_points`; variance by first-order propagation through the
    Jacobian of the projection at the mean (independent x, y, z; depth clamped as in `project_points`).
    """
    check_same_shape(mean=mean, var=var)
    if isinstance(camera, WeakPerspectiveCamera):
        s = camera.scale.to(dtype=mean.dtype, device=mean.device).reshape(-1, 1, 1)
        trans = camera.trans.to(dtype=mean.dtype, device=mean.device)
        return weak_perspective_project(mean, s, trans), s * s * var[..., :2]
    if isinstance(camera, PerspectiveCamera):
        K = camera.K.to(dtype=mean.dtype, device=mean.device)
        K = K if K.dim() == 3 else K.expand(mean.shape[0], 3, 3)
        fx, fy, skew = K[:, 0, 0, None], K[:, 1, 1, None], K[:, 0, 1, None]
        x, y = mean[..., 0], mean[..., 1]
        z = mean[..., 2].clamp_min(Z_EPS)
        vx, vy, vz = var.unbind(-1)
        du_dz = -(fx * x + skew * y) / z**2
        dv_dz = -fy * y / z**2
        var_u = (fx / z) ** 2 * vx + (skew / z) ** 2 * vy + du_dz**2 * vz
        var_v = (fy / z) ** 2 * vy + dv_dz**2 * vz
        return project_points(mean, K), torch.stack([var_u, var_v], -1).clamp_min(MIN_VARIANCE)
    raise TypeError(f"camera must be a PerspectiveCamera or WeakPerspectiveCamera, got {type(camera).__name__}")


def _nll_plus_kl(
    mean_q: torch.Tensor,
    target: torch.Tensor,
    var_q: torch.Tensor,
    mean_p: torch.Tensor,
    var_p: torch.Tensor,
    valid: torch.Tensor | None,
) -> torch.Tensor:
    """(B,) sum_m NLL(target | Q) + KL(Q || P); `valid` (B, N) masks the NLL of unlabelled items only."""
    check_same_shape(mean_q=mean_q, target=target)
    nll = gaussian_nll(mean_q, target, var_q)
    w = expand_weight(valid, nll, "valid")
    if w is not None:
        nll = nll * w
    return sum_per_sample(nll) + sum_per_sample(kl_diag_gaussians(mean_q, var_q, mean_p, var_p))


def vertex_loss(
    mean: torch.Tensor,
    target: torch.Tensor,
    var: torch.Tensor,
    prior_mean: torch.Tensor,
    prior_var: torch.Tensor | None = None,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """Eq. 3: L_V3D = sum_m NLL(V^m | mu_phi, sigma_phi) + KL(N(mu_phi, sigma_phi) || N(mu_v, sigma_v)).

    mean, var: the attention model's Q over vertices (B, V, 3); target: ground-truth vertices (B, V, 3);
    prior_mean (and optional prior_var, default 1): the prior-net's P.
    """
    pv = _prior_var(prior_var, mean)
    return reduce_batch(_nll_plus_kl(mean, target, var, prior_mean, pv, None), reduction)


def joint_loss(
    mean: torch.Tensor,
    target: torch.Tensor,
    var: torch.Tensor,
    prior_mean: torch.Tensor,
    regressor: torch.Tensor,
    prior_var: torch.Tensor | None = None,
    propagation: Propagation = "linear",
    valid: torch.Tensor | None = None,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """Eq. 5: L_J3D, the NLL of ground-truth joints target (B, J, 3) under N(B mu_phi, B sigma_phi) plus
    KL(N(B mu_phi, B sigma_phi) || N(B mu_v, B sigma_v)); vertex Gaussians mean, var (B, V, 3), regressor B (J, V).

    valid: optional (B, J), 0 for joints without a label (masks the NLL; the KL is label-free).
    """
    jm, jv = regress_gaussian(mean, var, regressor, propagation)
    pm, pv = regress_gaussian(prior_mean, _prior_var(prior_var, prior_mean), regressor, propagation)
    return reduce_batch(_nll_plus_kl(jm, target, jv, pm, pv, valid), reduction)


def joint2d_loss(
    mean: torch.Tensor,
    target: torch.Tensor,
    var: torch.Tensor,
    prior_mean: torch.Tensor,
    regressor: torch.Tensor,
    camera: Camera,
    prior_var: torch.Tensor | None = None,
    rotation: torch.Tensor | None = None,
    propagation: Propagation = "linear",
    valid: torch.Tensor | None = None,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """Eq. 6: L_J2D, the NLL of ground-truth 2D joints (B, J, 2) under S(Q) plus KL(S(Q) || S(P)).

    S(x) = project(R (B x)): joints regressed from the vertex Gaussians (`regress_gaussian`), optionally
    rotated by `rotation` (the camera rotation R of C, (B, 3) axis-angle or (B, 3, 3)), then projected by
    `camera` (`project_gaussian`; the paper uses weak perspective, full perspective is supported).
    valid: optional (B, J) visibility of the 2D labels.
    """
    jm, jv = regress_gaussian(mean, var, regressor, propagation)
    pm, pv = regress_gaussian(prior_mean, _prior_var(prior_var, prior_mean), regressor, propagation)
    if rotation is not None:
        jm, jv = rotate_gaussian(jm, jv, rotation)
        pm, pv = rotate_gaussian(pm, pv, rotation)
    qm2, qv2 = project_gaussian(jm, jv, camera)
    pm2, pv2 = project_gaussian(pm, pv, camera)
    return reduce_batch(_nll_plus_kl(qm2, target, qv2, pm2, pv2, valid), reduction)


def camera_loss(pred: torch.Tensor, target: torch.Tensor, reduction: Reduction = "mean") -> torch.Tensor:
    """Eq. 4: L_C = sum_m (C^m - mu_gamma^m)^2 over the camera parameters (B, P): `squared_error` summed
    over the parameters (WildHands' camera loss is the same error averaged, `egocentric.camera_loss`).

    With Q = N(mu_gamma, 1) and P = N(C, 1) this is twice KL(Q || P); eq. 4 drops the factor 1/2.
    """
    return squared_error(pred, target, within="sum", reduction=reduction)


def weak_camera_from_params(params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Split AMVUR camera parameters C (..., 3) = (s, tx, ty) or (..., 6) = (s, tx, ty, rx, ry, rz)
    into scale (...), translation (..., 2) and an optional rotation matrix (..., 3, 3) (axis-angle r)."""
    if params.shape[-1] not in (3, 6):
        raise ValueError(f"camera parameters must be (s, tx, ty) or (s, tx, ty, rx, ry, rz), got {tuple(params.shape)}")
    rot = as_rotation_matrix(params[..., 3:6]) if params.shape[-1] == 6 else None
    return params[..., 0], params[..., 1:3], rot


def weakly_supervised_loss(
    mean: torch.Tensor,
    target: torch.Tensor,
    var: torch.Tensor,
    prior_mean: torch.Tensor,
    regressor: torch.Tensor,
    camera_mean: torch.Tensor,
    camera_var: torch.Tensor,
    prior_camera_mean: torch.Tensor,
    prior_var: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    num_samples: int = 1,
    propagation: Propagation = "linear",
    valid: torch.Tensor | None = None,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """Eq. 8: the weakly-supervised objective, with 2D joint labels only, target (B, J, 2):

        E_{J ~ N_B, C ~ N_gamma}[-ln P(J2D | J, C)] + KL_V + KL_J + KL_C

    - KL_V = KL(N(mu_phi, sigma_phi) || N(mu_v, sigma_v)) over the vertices (B, V, 3);
    - KL_J = the same for joints through B (`regress_gaussian`);
    - KL_C = KL(N(mu_gamma, sigma_gamma) || N(C_prior, 1)) for the weak-perspective camera parameters
      (`weak_camera_from_params` layout) with the prior camera mean `prior_camera_mean`;
    - the expectation is a Monte-Carlo mean over `num_samples` reparameterised draws of the joints
      J ~ N(B mu_phi, B sigma_phi) and the camera C ~ N(mu_gamma, sigma_gamma) (`generator` for
      reproducibility); each draw is scored with the NLL term of eq. 6, i.e. J2D ~ N(S_C(J), S_C(B sigma_phi))
      (variance s^2 (R*R) B sigma_phi under the sampled camera).
    valid: optional (B, J) visibility of the 2D labels.
    """
    if num_samples < 1:
        raise ValueError(f"num_samples must be >= 1, got {num_samples}")
    if target.dim() != 3 or target.shape[-1] != 2:
        raise ValueError(f"expected 2D joint labels of shape (B, J, 2), got {tuple(target.shape)}")
    check_same_shape(camera_mean=camera_mean, camera_var=camera_var, prior_camera_mean=prior_camera_mean)
    pv = _prior_var(prior_var, prior_mean)
    jm, jv = regress_gaussian(mean, var, regressor, propagation)
    pjm, pjv = regress_gaussian(prior_mean, pv, regressor, propagation)
    kl = (
        sum_per_sample(kl_diag_gaussians(mean, var, prior_mean, pv))
        + sum_per_sample(kl_diag_gaussians(jm, jv, pjm, pjv))
        + sum_per_sample(kl_diag_gaussians(camera_mean, camera_var, prior_camera_mean, torch.ones_like(camera_var)))
    )
    joints = reparameterize(jm, jv, generator, num_samples)  # (S, B, J, 3)
    cams = reparameterize(camera_mean, camera_var, generator, num_samples)  # (S, B, P)
    scale, trans, rot = weak_camera_from_params(cams)
    jv_s = jv.expand_as(joints)
    if rot is not None:
        joints = torch.einsum("sbij,sbnj->sbni", rot, joints)
        jv_s = torch.einsum("sbij,sbnj->sbni", rot * rot, jv_s)
    s = scale[..., None, None]
    mean2d = s * joints[..., :2] + trans[..., None, :]
    var2d = (s * s * jv_s[..., :2]).clamp_min(MIN_VARIANCE)
    nll = gaussian_nll(mean2d, target.expand_as(mean2d), var2d)  # (S, B, J, 2)
    w = expand_weight(valid, nll[0], "valid")
    if w is not None:
        nll = nll * w
    expected_nll = nll.flatten(2).sum(-1).mean(0)
    return reduce_batch(expected_nll + kl, reduction)


def texture_loss(
    rendered: torch.Tensor, image: torch.Tensor, mask: torch.Tensor, reduction: Reduction = "mean"
) -> torch.Tensor:
    """Eq. 12: L_tex = ||I_rend * M - I * M||_2, the L2 (Frobenius) norm over the whole masked image per
    sample, with M the rasterised visible-hand mask (B, H, W) or (B, 1, H, W) and images (B, C, H, W)."""
    check_same_shape(rendered=rendered, image=image)
    m = broadcast_mask(mask, image)
    diff = (rendered - image) * m
    return reduce_batch(torch.linalg.vector_norm(diff.reshape(diff.shape[0], -1), dim=1), reduction)
