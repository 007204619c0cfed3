"""handrecon.priors: the losses of the five papers, pure functions over batched tensors.

Conventions shared by every loss (so that a training module can call them by name, `LOSSES`):
- arguments: the prediction first, the target second (as torch's losses), then the rest; Gaussian terms
  take (mean, target, var) as `torch.nn.functional.gaussian_nll_loss` does;
- per-element masks are called `valid`: optional, (B,) per sample or (B, N) per item (joint, vertex), bool
  or weights in [0, 1]; an invalid element contributes zero. Image regions (a rendered silhouette, a hand
  mask) are inputs of the image losses, not masks of elements, and keep their own names;
- every loss returns its per-sample value reduced over the batch by `reduction` ("mean", "sum", "none");
- each paper's loss weights are a dataclass with the paper's values as defaults (`KnowledgePriorWeights`,
  `WildHandsWeights`, `InteractionLossWeights`), which a recipe can load and override (OmegaConf), and
  `weighted_sum(terms, weights)` combines named terms with them.

Modules by paper: `knowledge` and `penetration` (knowledge prior with uncertainty, Zhang et al.),
`self_supervised` (S2HAND), `interaction` (interaction prior, Zuo et al.), `egocentric` (WildHands),
`probabilistic` (AMVUR); `gaussian` and `reduction` hold what they share.
"""

import importlib
from collections.abc import Callable

# Submodules and names, imported on first use: the photo pipeline needs only `knowledge` and `penetration`,
# and importing every paper's losses with them (rendering, image similarity) cost each start-up time.
_SUBMODULES = ("egocentric", "interaction", "knowledge", "penetration", "probabilistic", "self_supervised")
_NAMES = {
    "WildHandsWeights": "egocentric",
    "InteractionLossWeights": "interaction",
    "KnowledgePriorWeights": "knowledge",
    "Reduction": "reduction",
    "reduce_batch": "reduction",
    "squared_error": "reduction",
    "weighted_sum": "reduction",
}

# Every loss by "<paper>.<name>", the names a training recipe uses: "<paper>.<name>" -> (module, function).
_LOSS_SOURCES: dict[str, tuple[str, str]] = {
    "knowledge.nll_data_term": ("knowledge", "nll_data_term"),
    "knowledge.mse_data_term": ("knowledge", "mse_data_term"),
    "knowledge.shape_regularizer": ("knowledge", "shape_regularizer"),
    "knowledge.pose_limit_loss": ("knowledge", "pose_limit_loss"),
    "knowledge.non_penetration_loss": ("penetration", "non_penetration_loss"),
    "s2hand.joint_location_loss": ("self_supervised", "joint_location_loss"),
    "s2hand.bone_orientation_loss": ("self_supervised", "bone_orientation_loss"),
    "s2hand.geometric_alignment_loss": ("self_supervised", "geometric_alignment_loss"),
    "s2hand.pixel_loss": ("self_supervised", "pixel_loss"),
    "s2hand.ssim_loss": ("self_supervised", "ssim_loss"),
    "s2hand.photometric_loss": ("self_supervised", "photometric_loss"),
    "s2hand.texture_regularizer": ("self_supervised", "texture_regularizer"),
    "s2hand.scale_regularizer": ("self_supervised", "scale_regularizer"),
    "s2hand.keypoint_branch_loss": ("self_supervised", "keypoint_branch_loss"),
    "s2hand.consistency_loss": ("self_supervised", "consistency_loss"),
    "s2hand.joint_angle_regularizer": ("self_supervised", "joint_angle_regularizer"),
    "interaction.feature_2d_loss": ("interaction", "feature_2d_loss"),
    "interaction.vae_prior_loss": ("interaction", "vae_prior_loss"),
    "interaction.normal_consistency_loss": ("interaction", "normal_consistency_loss"),
    "interaction.two_hand_penetration_loss": ("penetration", "two_hand_penetration_loss"),
    "wildhands.parameter_loss": ("egocentric", "parameter_loss"),
    "wildhands.camera_loss": ("egocentric", "camera_loss"),
    "wildhands.keypoint_3d_loss": ("egocentric", "keypoint_3d_loss"),
    "wildhands.keypoint_2d_loss": ("egocentric", "keypoint_2d_loss"),
    "wildhands.mask_loss": ("egocentric", "mask_loss"),
    "wildhands.grasp_loss": ("egocentric", "grasp_loss"),
    "amvur.vertex_loss": ("probabilistic", "vertex_loss"),
    "amvur.joint_loss": ("probabilistic", "joint_loss"),
    "amvur.joint2d_loss": ("probabilistic", "joint2d_loss"),
    "amvur.camera_loss": ("probabilistic", "camera_loss"),
    "amvur.weakly_supervised_loss": ("probabilistic", "weakly_supervised_loss"),
    "amvur.texture_loss": ("probabilistic", "texture_loss"),
}


def _submodule(name: str):
    return importlib.import_module(f"{__name__}.{name}")


def __getattr__(name: str):
    if name in _SUBMODULES:
        value = _submodule(name)
    elif name in _NAMES:
        value = getattr(_submodule(_NAMES[name]), name)
    elif name == "LOSSES":
        value: dict[str, Callable] = {k: getattr(_submodule(m), f) for k, (m, f) in _LOSS_SOURCES.items()}
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "LOSSES",
    "InteractionLossWeights",
    "KnowledgePriorWeights",
    "Reduction",
    "WildHandsWeights",
    "egocentric",
    "interaction",
    "knowledge",
    "penetration",
    "probabilistic",
    "reduce_batch",
    "self_supervised",
    "squared_error",
    "weighted_sum",
]
