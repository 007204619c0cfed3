"""Loss terms of the knowledge-prior paper (eq. 1-7) and WildHands' auxiliary supervision (eq. 3), by name,
added to `handrecon.train.losses.LOSS_TERMS` on import. Each picks its inputs and calls the prior's function.

- `pose_limits`: eq. 1, squared violation of the biomechanical ranges (no coupling) — "+ biomechanics";
- `pose_limits_functional`: eq. 1 with eq. 2-3's functional-anatomy ranges — "+ functional anatomy";
- `non_penetration`: eq. 4, self-penetration depth beyond d_tol = 6 mm (metres);
- `keypoints_2d_mse` / `keypoints_2d_nll`: eq. 7 with unit variance / with the predicted per-joint variance,
  in crop units (pixels / crop size), so a weight does not depend on the crop's resolution;
- `mask`: WildHands' L_mask, the soft silhouette of the predicted mesh in the crop against `batch["hand_mask"]`
  (B, M, M) in [0, 1] (the crop's mask at M x M, `train.data.HandCropDataset`) where `batch["has_hand_mask"]`;
- `grasp`: WildHands' L_grasp, cross-entropy of the grasp head against `batch["grasp"]` where `has_grasp`.
The weights of the papers: `knowledge.KnowledgePriorWeights` (pose 20000, non-penetration 20000, shape 10)
and `egocentric.WildHandsWeights` (mask 10, grasp 0.1 on in-the-wild data).
"""

from __future__ import annotations

import torch

from handrecon.geometry.camera import PerspectiveCamera
from handrecon.nn.prediction import HandPrediction
from handrecon.priors import egocentric, knowledge, penetration
from handrecon.train.losses import LOSS_TERMS, NEEDS_VERTICES, Batch

_POSE_PRIORS: dict[tuple[int, bool], knowledge.AnatomicalPosePrior] = {}


def _pose_prior(hand_model, functional: bool, like: torch.Tensor) -> knowledge.AnatomicalPosePrior:
    key = (id(hand_model), functional)
    if key not in _POSE_PRIORS:
        _POSE_PRIORS[key] = knowledge.AnatomicalPosePrior.from_hand_model(hand_model, functional)
    return _POSE_PRIORS[key].to(device=like.device, dtype=like.dtype)


def _need(ctx: dict, name: str):
    if ctx.get(name) is None:
        raise ValueError(f"this loss term needs the training context's {name!r}")
    return ctx[name]


def pose_limits_term(pred: HandPrediction, batch: Batch, **ctx) -> torch.Tensor:
    return _pose_prior(_need(ctx, "hand_model"), False, pred.hand_pose)(pred.hand_pose)


def pose_limits_functional_term(pred: HandPrediction, batch: Batch, **ctx) -> torch.Tensor:
    return _pose_prior(_need(ctx, "hand_model"), True, pred.hand_pose)(pred.hand_pose)


def non_penetration_term(pred: HandPrediction, batch: Batch, **ctx) -> torch.Tensor:
    if pred.vertices is None:
        raise ValueError("non_penetration needs the predicted mesh")
    return penetration.non_penetration_loss(pred.vertices, _need(ctx, "hand_model"))


def _kp(pred: HandPrediction, batch: Batch, crop_size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    kp = batch["keypoints_2d"][:, 0].to(pred.keypoints_2d)
    valid = kp[..., 2] * batch["has_keypoints_2d"][:, 0, None].to(kp)
    return pred.keypoints_2d / crop_size, kp[..., :2] / crop_size, valid


def keypoints_2d_mse_term(pred: HandPrediction, batch: Batch, crop_size: int = 224, **_) -> torch.Tensor:
    return knowledge.mse_data_term(*_kp(pred, batch, crop_size))


def keypoints_2d_nll_term(pred: HandPrediction, batch: Batch, crop_size: int = 224, **_) -> torch.Tensor:
    var = getattr(pred, "keypoints_2d_variance", None)
    if var is None:
        raise ValueError("keypoints_2d_nll needs a model that predicts keypoints_2d_variance (knowledge_prior)")
    mean, target, valid = _kp(pred, batch, crop_size)
    return knowledge.nll_data_term(mean, target, var, valid)


def mask_term(pred: HandPrediction, batch: Batch, crop_size: int = 224, hand_model=None, **_) -> torch.Tensor:
    if "hand_mask" not in batch:
        return pred.joints.sum() * 0.0  # no mask labels in this batch
    from handrecon.render.soft import soft_silhouette

    target = batch["hand_mask"].to(pred.joints)
    h, w = target.shape[-2:]
    K = batch["K"].to(pred.joints).clone()  # the crop's intrinsics, rescaled to the mask's resolution
    K[:, :2] *= w / crop_size
    cam = PerspectiveCamera(K, int(w), int(h))
    faces = _need({"hand_model": hand_model}, "hand_model").faces
    sil = soft_silhouette(pred.vertices, faces, cam)
    return egocentric.mask_loss(sil, target, batch["has_hand_mask"].to(pred.joints))


def grasp_term(pred: HandPrediction, batch: Batch, **_) -> torch.Tensor:
    logits = getattr(pred, "grasp_logits", None)
    if logits is None:
        raise ValueError("grasp needs a model with a grasp head (wildhands)")
    if "grasp" not in batch:
        return logits.sum() * 0.0
    return egocentric.grasp_loss(logits, batch["grasp"].long(), batch["has_grasp"].to(logits))


PAPER_TERMS = {
    "pose_limits": pose_limits_term,
    "pose_limits_functional": pose_limits_functional_term,
    "non_penetration": non_penetration_term,
    "keypoints_2d_mse": keypoints_2d_mse_term,
    "keypoints_2d_nll": keypoints_2d_nll_term,
    "mask": mask_term,
    "grasp": grasp_term,
}
for _name, _fn in PAPER_TERMS.items():
    LOSS_TERMS.setdefault(_name, _fn)
NEEDS_VERTICES.update({"non_penetration", "mask"})
