"""Procrustes alignment of a predicted point set onto a ground-truth one with known correspondences.

Every aligner maps `pred` onto `gt` by `aligned = scale * pred @ rotation^T + translation` and returns
that transform together with the aligned points, so that a transform found on one set (e.g. joints)
can be applied to another (e.g. vertices) with `apply_similarity`.

Variants, from most to least freedom:
- `similarity_procrustes`: rotation + translation + scale (Umeyama 1991), the alignment behind
  PA-MPJPE / PA-MPVPE. Rotations are proper (det = +1) unless `allow_reflection=True`.
- `rigid_procrustes`: rotation + translation (Kabsch).
- `scale_translation_align`: least-squares scale + translation, no rotation.
- `root_bone_scale_align`: the HO3D evaluation's scale + translation: scale from one reference bone,
  translation from the root joint.
- `translation_align`: translation only, by the root joint or the (weighted) centroid.

All functions take points (..., N, D) (any number of leading batch dimensions, D = 3 for hands but any
D >= 2 works), accept float32/float64 on any device, are differentiable, and take optional per-point
weights (..., N) >= 0; a 0/1 visibility mask as weights aligns on the visible points only.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

# The default reference bone of `root_bone_scale_align`: points 0 -> 9, which is HO3D's wrist -> middle-finger
# MCP in OpenPose-21 order (`handrecon.hand.keypoints.WRIST_TO_MIDDLE_MCP` names it; geometry knows no hands).
DEFAULT_REF_BONE: tuple[int, int] = (0, 9)

# Guards divisions by a total weight or a variance that is zero for degenerate inputs.
_TINY = 1e-12


class AlignmentResult(NamedTuple):
    """Aligned points and the similarity transform that produced them from `pred`."""

    aligned: torch.Tensor  # (..., N, D) = scale * pred @ rotation^T + translation
    scale: torch.Tensor  # (...)
    rotation: torch.Tensor  # (..., D, D), det = +1 unless a reflection was allowed
    translation: torch.Tensor  # (..., D)


def apply_similarity(
    points: torch.Tensor, scale: torch.Tensor, rotation: torch.Tensor, translation: torch.Tensor
) -> torch.Tensor:
    """`scale * points @ rotation^T + translation` for points (..., N, D); reuses a transform found elsewhere."""
    return scale[..., None, None] * points @ rotation.transpose(-1, -2) + translation[..., None, :]


def _check_pair(pred: torch.Tensor, gt: torch.Tensor) -> None:
    if pred.shape != gt.shape:
        raise ValueError(f"pred and gt must have the same shape, got {tuple(pred.shape)} and {tuple(gt.shape)}")
    if pred.dim() < 2 or pred.shape[-1] < 2:
        raise ValueError(f"expected points of shape (..., N, D) with D >= 2, got {tuple(pred.shape)}")


def _normalised_weights(pred: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    """(..., N, 1) weights summing to one over the points (uniform when `weights` is None)."""
    if weights is None:
        w = torch.ones_like(pred[..., :1])
    else:
        if weights.shape != pred.shape[:-1]:
            raise ValueError(f"weights must have shape {tuple(pred.shape[:-1])}, got {tuple(weights.shape)}")
        w = weights.to(dtype=pred.dtype, device=pred.device)[..., None]
    return w / w.sum(-2, keepdim=True).clamp_min(_TINY)


def _weighted_centring(
    pred: torch.Tensor, gt: torch.Tensor, weights: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Normalised weights, weighted centroids and centred points of both sets.

    Zero-weight points are zeroed before any product, so that missing points stored as NaN or inf
    (a common way to mark unannotated joints) cannot leak into the fit.
    """
    w = _normalised_weights(pred, weights)
    pred = torch.where(w > 0, pred, torch.zeros_like(pred))
    gt = torch.where(w > 0, gt, torch.zeros_like(gt))
    mu_pred = (w * pred).sum(-2)
    mu_gt = (w * gt).sum(-2)
    return w, mu_pred, mu_gt, pred - mu_pred[..., None, :], gt - mu_gt[..., None, :]


def _identity_like(pred: torch.Tensor) -> torch.Tensor:
    d = pred.shape[-1]
    return torch.eye(d, dtype=pred.dtype, device=pred.device).expand(*pred.shape[:-2], d, d)


def similarity_procrustes(
    pred: torch.Tensor,
    gt: torch.Tensor,
    weights: torch.Tensor | None = None,
    *,
    with_scale: bool = True,
    allow_reflection: bool = False,
) -> AlignmentResult:
    """Least-squares similarity transform of `pred` onto `gt` (Umeyama 1991), optionally weighted.

    Minimises sum_i w_i |gt_i - (s R pred_i + t)|^2. With Sigma = sum_i w_i (gt_i - mu_gt)(pred_i - mu_pred)^T
    = U diag(d) V^T, R = U S V^T with S = diag(1, ..., 1, sign(det U det V)) so that R is a proper rotation,
    s = trace(diag(d) S) / var_w(pred) (always >= 0) and t = mu_gt - s R mu_pred.

    `allow_reflection=True` drops the sign correction (S = I), which reproduces an unconstrained
    orthogonal Procrustes such as scipy's `orthogonal_procrustes` used by the public FreiHAND script; for
    real hand predictions both agree because the best orthogonal map is a rotation. `with_scale=False`
    gives the rigid (Kabsch) solution with s = 1.
    """
    _check_pair(pred, gt)
    w, mu_pred, mu_gt, p, g = _weighted_centring(pred, gt, weights)
    sigma = g.transpose(-1, -2) @ (w * p)  # (..., D, D)
    U, d, Vh = torch.linalg.svd(sigma)
    signs = torch.ones_like(d)
    if not allow_reflection:
        # Only the sign of the determinant matters; it is piecewise constant, so it carries no gradient.
        det = torch.linalg.det(U.detach() @ Vh.detach())
        signs[..., -1] = torch.where(det < 0, -1.0, 1.0).to(d.dtype)
    rotation = (U * signs[..., None, :]) @ Vh
    if with_scale:
        var_pred = (w * p * p).sum((-1, -2))
        scale = (d * signs).sum(-1) / var_pred.clamp_min(_TINY)
    else:
        scale = torch.ones_like(d[..., 0])
    translation = mu_gt - scale[..., None] * (rotation @ mu_pred[..., None])[..., 0]
    aligned = scale[..., None, None] * (pred - mu_pred[..., None, :]) @ rotation.transpose(-1, -2)
    return AlignmentResult(aligned + mu_gt[..., None, :], scale, rotation, translation)


def rigid_procrustes(pred: torch.Tensor, gt: torch.Tensor, weights: torch.Tensor | None = None) -> AlignmentResult:
    """Least-squares rotation + translation (Kabsch) of `pred` onto `gt`; proper rotation, scale fixed to 1."""
    return similarity_procrustes(pred, gt, weights, with_scale=False)


def scale_translation_align(
    pred: torch.Tensor, gt: torch.Tensor, weights: torch.Tensor | None = None
) -> AlignmentResult:
    """Least-squares scale + translation of `pred` onto `gt`, no rotation.

    s = <pred - mu_pred, gt - mu_gt>_w / |pred - mu_pred|_w^2, clamped to s >= 0 (a negative scale would be a
    point reflection; for a quadratic in s the clamp is the exact constrained optimum); t = mu_gt - s mu_pred.
    """
    _check_pair(pred, gt)
    w, mu_pred, mu_gt, p, g = _weighted_centring(pred, gt, weights)
    scale = ((w * p * g).sum((-1, -2)) / (w * p * p).sum((-1, -2)).clamp_min(_TINY)).clamp_min(0.0)
    translation = mu_gt - scale[..., None] * mu_pred
    aligned = scale[..., None, None] * (pred - mu_pred[..., None, :]) + mu_gt[..., None, :]
    return AlignmentResult(aligned, scale, _identity_like(pred), translation)


def root_bone_scale_align(
    pred: torch.Tensor, gt: torch.Tensor, root_index: int = 0, ref_bone: tuple[int, int] = DEFAULT_REF_BONE
) -> AlignmentResult:
    """Scale + translation as the HO3D evaluation script's `align_sc_tr` defines it.

    The prediction is scaled so that its reference bone (`ref_bone`, default wrist -> middle MCP in
    OpenPose-21 order, the HO3D script's joints 0 and 4 in its MANO order) has the ground-truth length, then
    translated so that its root joint lands on the ground-truth root. A zero-length predicted bone leaves
    the prediction unnormalised (scale = ground-truth bone length), as that script does.
    """
    _check_pair(pred, gt)
    a, b = ref_bone
    pred_len = (pred[..., b, :] - pred[..., a, :]).norm(dim=-1)
    gt_len = (gt[..., b, :] - gt[..., a, :]).norm(dim=-1)
    scale = gt_len / torch.where(pred_len > 0, pred_len, torch.ones_like(pred_len))
    translation = gt[..., root_index, :] - scale[..., None] * pred[..., root_index, :]
    aligned = scale[..., None, None] * pred + translation[..., None, :]
    return AlignmentResult(aligned, scale, _identity_like(pred), translation)


def translation_align(
    pred: torch.Tensor, gt: torch.Tensor, weights: torch.Tensor | None = None, root_index: int | None = None
) -> AlignmentResult:
    """Translation only: moves the root joint of `pred` onto that of `gt` when `root_index` is given,
    otherwise the (weighted) centroid onto the centroid, which is the least-squares translation."""
    _check_pair(pred, gt)
    if root_index is not None:
        translation = gt[..., root_index, :] - pred[..., root_index, :]
    else:
        _, mu_pred, mu_gt, _, _ = _weighted_centring(pred, gt, weights)
        translation = mu_gt - mu_pred
    aligned = pred + translation[..., None, :]
    return AlignmentResult(aligned, torch.ones_like(translation[..., 0]), _identity_like(pred), translation)
