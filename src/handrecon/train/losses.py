"""Loss terms by name: each reads a `HandPrediction` and a batch and calls a loss of `handrecon.priors`.

The recipe's `loss.weights` names the terms and weighs them; the total is `priors.reduction.weighted_sum`.
Nothing here re-writes a loss: a term only picks its inputs (the first hand slot of the batch, which the
crop transform fills with the cropped hand) and calls the prior's function, prediction first.
2D keypoints are compared in crop units (pixels / crop size) so the weight does not depend on the crop's
resolution; 3D keypoints root-relative (the root's depth is the camera's business).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch

from handrecon.geometry.rotations import axis_angle_to_matrix
from handrecon.nn.prediction import HandPrediction
from handrecon.priors import egocentric, knowledge
from handrecon.priors.reduction import weighted_sum

Batch = Mapping[str, torch.Tensor]


def _flag(batch: Batch, key: str, like: torch.Tensor) -> torch.Tensor:
    return batch[key][:, 0].to(like.dtype)


def pose_term(pred: HandPrediction, batch: Batch, pose_mean: torch.Tensor | None = None, **_) -> torch.Tensor:
    """Rotation matrices of the wrist and the 15 joints against the labels (WildHands eq. 1, L_theta)."""
    hp = batch["hand_pose"][:, 0]
    if pose_mean is not None:
        hp = hp + pose_mean.to(hp).reshape(15, 3)
    target = torch.cat([axis_angle_to_matrix(batch["global_orient"][:, 0])[:, None], axis_angle_to_matrix(hp)], 1)
    p = torch.cat([pred.global_orient[:, None], pred.hand_pose], 1)
    return egocentric.parameter_loss(p, target.to(p), _flag(batch, "has_pose", p))


def shape_term(pred: HandPrediction, batch: Batch, **_) -> torch.Tensor:
    """Shape coefficients against the labels (WildHands eq. 1, L_beta)."""
    target = batch["betas"][:, 0, : pred.betas.shape[1]].to(pred.betas)
    return egocentric.parameter_loss(pred.betas, target, _flag(batch, "has_betas", pred.betas))


def shape_prior_term(pred: HandPrediction, batch: Batch, **_) -> torch.Tensor:
    """||beta||: the shape stays near the mean (paper 000 sec. 3.2, S2HAND's E_beta)."""
    return knowledge.shape_regularizer(pred.betas)


def keypoints_3d_term(pred: HandPrediction, batch: Batch, **_) -> torch.Tensor:
    """Root-relative 3D joints, metres (WildHands eq. 2, L_kp3d)."""
    target = batch["joints_3d"][:, 0].to(pred.joints)
    valid = batch["joints_3d_valid"][:, 0].to(pred.joints)
    valid = valid * valid[:, :1]  # root-relative needs the root
    return egocentric.keypoint_3d_loss(pred.joints, target, valid, root_index=0)


def keypoints_2d_term(pred: HandPrediction, batch: Batch, crop_size: int = 224, **_) -> torch.Tensor:
    """Projected joints in crop units (WildHands eq. 2, L_kp2d), weighted by the labels' confidence."""
    kp = batch["keypoints_2d"][:, 0].to(pred.keypoints_2d)
    valid = kp[..., 2] * _flag(batch, "has_keypoints_2d", kp)[:, None]
    return egocentric.keypoint_2d_loss(pred.keypoints_2d / crop_size, kp[..., :2] / crop_size, valid)


# Terms that read the predicted mesh (the others let training skip skinning it).
NEEDS_VERTICES: set[str] = set()

LOSS_TERMS: dict[str, Callable[..., torch.Tensor]] = {
    "pose": pose_term,
    "shape": shape_term,
    "shape_prior": shape_prior_term,
    "keypoints_3d": keypoints_3d_term,
    "keypoints_2d": keypoints_2d_term,
}


def check_weights(weights: Mapping[str, float]) -> None:
    unknown = sorted(set(weights) - set(LOSS_TERMS))
    if unknown:
        raise ValueError(f"unknown loss term(s) {unknown}; available: {', '.join(sorted(LOSS_TERMS))}")


def compute_losses(
    pred: HandPrediction, batch: Batch, weights: Mapping[str, float], **context
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """(weighted total, every term with a non-zero weight) for logging."""
    check_weights(weights)
    terms = {name: LOSS_TERMS[name](pred, batch, **context) for name, w in weights.items() if w}
    return weighted_sum(terms, weights), terms
