"""Training losses of WildHands (paper 003_f2ca610c698c2e76, sec. 3.2, eq. 1-4).

Lab data supervise the hand-model parameters, the weak-perspective camera and 3D/2D keypoints; in-the-wild
data supervise a rendered hand mask and a grasp class. The squared L2 norms of eq. 1-2 are averaged over
elements per sample (the scale at which the weights of sec. 3.2 were set), then over the batch by
`reduction`. `valid` arguments are 0/1 (or soft) weights per sample (B,) or per item (B, N): an invalid
element contributes zero but still counts in the per-sample mean, so a sample's weight does not depend on
how many of its labels exist.

Eq. 4 is `handrecon.priors.reduction.weighted_sum(terms, weights)` with one of the weight tables below.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from handrecon.geometry.camera import project_points
from handrecon.priors.reduction import Reduction, check_same_shape, expand_weight, mean_per_sample, reduce_batch

NUM_GRASP_CLASSES: int = 8

# Loss weights of sec. 3.2 (eq. 4), per kind of training data; absent terms have weight 0.
ARCTIC_WEIGHTS: dict[str, float] = {
    "pose": 10.0,
    "shape": 0.001,
    "camera": 1.0,
    "keypoints_3d": 5.0,
    "keypoints_2d": 5.0,
}
ASSEMBLYHANDS_WEIGHTS: dict[str, float] = {"keypoints_3d": 5.0, "keypoints_2d": 5.0}
IN_THE_WILD_WEIGHTS: dict[str, float] = {"mask": 10.0, "grasp": 0.1}


def _masked_mean_squared(
    pred: torch.Tensor, target: torch.Tensor, valid: torch.Tensor | None, reduction: Reduction
) -> torch.Tensor:
    check_same_shape(pred=pred, target=target)
    err = (pred - target) ** 2
    w = expand_weight(valid, err, "valid")
    if w is not None:
        err = err * w
    return reduce_batch(mean_per_sample(err), reduction)


def parameter_loss(
    pred: torch.Tensor, target: torch.Tensor, valid: torch.Tensor | None = None, reduction: Reduction = "mean"
) -> torch.Tensor:
    """Eq. 1, L_theta and L_beta: ||x - x^gt||^2 for hand-model parameters of any shape (B, ...).

    Used for the articulation and the global orientation (predicted as rotation matrices, (B, 15, 3, 3)
    and (B, 3, 3)) and for the shape (B, 10). valid: (B,) for samples that carry parameter labels.
    """
    return _masked_mean_squared(pred, target, valid, reduction)


def camera_loss(
    pred: torch.Tensor, target: torch.Tensor, valid: torch.Tensor | None = None, reduction: Reduction = "mean"
) -> torch.Tensor:
    """Eq. 1, L_cam = ||(s, T) - (s, T)^gt||^2 over the weak-perspective camera (B, 3) = (s, tx, ty)."""
    return _masked_mean_squared(pred, target, valid, reduction)


def keypoint_3d_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    valid: torch.Tensor | None = None,
    root_index: int | None = None,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """Eq. 2, L_kp3d = ||J_3D - J_3D^gt||^2 for keypoints (B, J, 3) in metres; valid (B,) or (B, J).

    With `root_index` both sets are first expressed relative to that keypoint (root-relative pose).
    """
    if root_index is not None:
        pred = pred - pred[:, root_index : root_index + 1]
        target = target - target[:, root_index : root_index + 1]
    return _masked_mean_squared(pred, target, valid, reduction)


def keypoint_2d_loss(
    pred: torch.Tensor, target: torch.Tensor, valid: torch.Tensor | None = None, reduction: Reduction = "mean"
) -> torch.Tensor:
    """Eq. 2, L_kp2d = ||J_2D - J_2D^gt||^2 for image keypoints (B, J, 2) (see `keypoints_2d_from_weak_camera`)."""
    return _masked_mean_squared(pred, target, valid, reduction)


def keypoints_2d_from_weak_camera(
    joints: torch.Tensor,
    scale: torch.Tensor,
    trans: torch.Tensor,
    K: torch.Tensor,
    focal: torch.Tensor | float | None = None,
) -> torch.Tensor:
    """J_2D = K [J_3D + (T, f / s)] (sec. 3.2): the weak-perspective camera (s, tx, ty) read as the
    translation (tx, ty, f / s) of the hand in the camera, then projected with the intrinsics K.

    joints (B, J, 3) in the hand's frame; scale (B,), trans (B, 2); K (B, 3, 3) or (3, 3); `focal` f
    defaults to K's fx.
    """
    Kb = K.to(dtype=joints.dtype, device=joints.device)
    Kb = Kb if Kb.dim() == 3 else Kb.expand(joints.shape[0], 3, 3)
    f = Kb[:, 0, 0] if focal is None else torch.as_tensor(focal, dtype=joints.dtype, device=joints.device)
    tz = f / scale.reshape(-1)
    t = torch.cat([trans.reshape(-1, 2), tz.expand(joints.shape[0]).reshape(-1, 1)], -1)
    return project_points(joints + t[:, None, :], Kb)


def mask_loss(
    pred: torch.Tensor, target: torch.Tensor, valid: torch.Tensor | None = None, reduction: Reduction = "mean"
) -> torch.Tensor:
    """Eq. 3, L_mask = ||M - M^gt|| between the rendered soft mask and the label mask (B, H, W).

    The norm is unspecified in the paper; it is taken as the L1 distance averaged over pixels, which keeps
    the weight lambda_mask = 10 independent of the mask resolution.
    """
    check_same_shape(pred=pred, target=target)
    err = (pred - target).abs()
    w = expand_weight(valid, err, "valid")
    if w is not None:
        err = err * w
    return reduce_batch(mean_per_sample(err), reduction)


def grasp_loss(
    logits: torch.Tensor, target: torch.Tensor, valid: torch.Tensor | None = None, reduction: Reduction = "mean"
) -> torch.Tensor:
    """Eq. 3, L_grasp = CE(G, G^gt): cross-entropy of the grasp classifier.

    logits: (B, NUM_GRASP_CLASSES) pre-softmax scores (G = softmax(logits)); target: class indices (B,) or
    class probabilities (B, NUM_GRASP_CLASSES) (soft pseudo-labels); valid: (B,).
    """
    if logits.dim() != 2:
        raise ValueError(f"expected grasp logits of shape (B, classes), got {tuple(logits.shape)}")
    ce = F.cross_entropy(logits, target, reduction="none")
    if valid is not None:
        ce = ce * valid.to(dtype=ce.dtype, device=ce.device)
    return reduce_batch(ce, reduction)
