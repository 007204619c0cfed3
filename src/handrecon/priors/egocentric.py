"""Training losses of WildHands (Prakash et al., 3D hand pose estimation in everyday egocentric images;
sec. 3.2, eq. 1-4).

Lab data supervise the hand-model parameters, the weak-perspective camera and 3D/2D keypoints; in-the-wild
data supervise a rendered hand mask and a grasp class. The squared L2 norms of eq. 1-2 are averaged over
elements per sample (the scale at which the weights of sec. 3.2 were set), then over the batch by
`reduction`. `valid` arguments are 0/1 (or soft) weights per sample (B,) or per item (B, N): an invalid
element contributes zero but still counts in the per-sample mean, so a sample's weight does not depend on
how many of its labels exist.

Eq. 4 is `handrecon.priors.reduction.weighted_sum(terms, weights)` with `WildHandsWeights` for the kind of
training data.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from handrecon.geometry.camera import project_points
from handrecon.priors.reduction import (
    Reduction,
    check_same_shape,
    expand_weight,
    mean_per_sample,
    reduce_batch,
    squared_error,
)

NUM_GRASP_CLASSES: int = 8


@dataclass
class WildHandsWeights:
    """Loss weights of eq. 4 (sec. 3.2) by term name; a term with weight 0 is left out. The defaults are the
    lab-data (ARCTIC) table; `assembly_hands()` and `in_the_wild()` give the paper's other two."""

    pose: float = 10.0
    shape: float = 0.001
    camera: float = 1.0
    keypoints_3d: float = 5.0
    keypoints_2d: float = 5.0
    mask: float = 0.0
    grasp: float = 0.0

    @classmethod
    def arctic(cls) -> WildHandsWeights:
        return cls()

    @classmethod
    def assembly_hands(cls) -> WildHandsWeights:
        return cls(pose=0.0, shape=0.0, camera=0.0)

    @classmethod
    def in_the_wild(cls) -> WildHandsWeights:
        return cls(pose=0.0, shape=0.0, camera=0.0, keypoints_3d=0.0, keypoints_2d=0.0, mask=10.0, grasp=0.1)

    def as_dict(self) -> dict[str, float]:
        """The terms with a non-zero weight, for `weighted_sum`."""
        return {k: v for k, v in asdict(self).items() if v != 0}


def parameter_loss(
    pred: torch.Tensor, target: torch.Tensor, valid: torch.Tensor | None = None, reduction: Reduction = "mean"
) -> torch.Tensor:
    """Eq. 1, L_theta and L_beta: ||x - x^gt||^2 for hand-model parameters of any shape (B, ...).

    Used for the articulation and the global orientation (predicted as rotation matrices, (B, 15, 3, 3)
    and (B, 3, 3)) and for the shape (B, 10). valid: (B,) for samples that carry parameter labels.
    """
    return squared_error(pred, target, valid, "mean", reduction)


def camera_loss(
    pred: torch.Tensor, target: torch.Tensor, valid: torch.Tensor | None = None, reduction: Reduction = "mean"
) -> torch.Tensor:
    """Eq. 1, L_cam = ||(s, T) - (s, T)^gt||^2 over the weak-perspective camera (B, 3) = (s, tx, ty), averaged
    over the parameters (`squared_error`; AMVUR's camera loss sums them, `probabilistic.camera_loss`)."""
    return squared_error(pred, target, valid, "mean", reduction)


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
    return squared_error(pred, target, valid, "mean", reduction)


def keypoint_2d_loss(
    pred: torch.Tensor, target: torch.Tensor, valid: torch.Tensor | None = None, reduction: Reduction = "mean"
) -> torch.Tensor:
    """Eq. 2, L_kp2d = ||J_2D - J_2D^gt||^2 for image keypoints (B, J, 2) (see `keypoints_2d_from_weak_camera`)."""
    return squared_error(pred, target, valid, "mean", reduction)


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
