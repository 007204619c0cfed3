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

from collections.abc import Callable

from handrecon.priors import egocentric, interaction, knowledge, penetration, probabilistic, self_supervised
from handrecon.priors.egocentric import WildHandsWeights
from handrecon.priors.interaction import InteractionLossWeights
from handrecon.priors.knowledge import KnowledgePriorWeights
from handrecon.priors.reduction import Reduction, reduce_batch, squared_error, weighted_sum

# Every loss by "<paper>.<name>", the names a training recipe uses.
LOSSES: dict[str, Callable] = {
    "knowledge.nll_data_term": knowledge.nll_data_term,
    "knowledge.mse_data_term": knowledge.mse_data_term,
    "knowledge.shape_regularizer": knowledge.shape_regularizer,
    "knowledge.pose_limit_loss": knowledge.pose_limit_loss,
    "knowledge.non_penetration_loss": penetration.non_penetration_loss,
    "s2hand.joint_location_loss": self_supervised.joint_location_loss,
    "s2hand.bone_orientation_loss": self_supervised.bone_orientation_loss,
    "s2hand.geometric_alignment_loss": self_supervised.geometric_alignment_loss,
    "s2hand.pixel_loss": self_supervised.pixel_loss,
    "s2hand.ssim_loss": self_supervised.ssim_loss,
    "s2hand.photometric_loss": self_supervised.photometric_loss,
    "s2hand.texture_regularizer": self_supervised.texture_regularizer,
    "s2hand.scale_regularizer": self_supervised.scale_regularizer,
    "s2hand.keypoint_branch_loss": self_supervised.keypoint_branch_loss,
    "s2hand.consistency_loss": self_supervised.consistency_loss,
    "s2hand.joint_angle_regularizer": self_supervised.joint_angle_regularizer,
    "interaction.feature_2d_loss": interaction.feature_2d_loss,
    "interaction.vae_prior_loss": interaction.vae_prior_loss,
    "interaction.normal_consistency_loss": interaction.normal_consistency_loss,
    "interaction.two_hand_penetration_loss": penetration.two_hand_penetration_loss,
    "wildhands.parameter_loss": egocentric.parameter_loss,
    "wildhands.camera_loss": egocentric.camera_loss,
    "wildhands.keypoint_3d_loss": egocentric.keypoint_3d_loss,
    "wildhands.keypoint_2d_loss": egocentric.keypoint_2d_loss,
    "wildhands.mask_loss": egocentric.mask_loss,
    "wildhands.grasp_loss": egocentric.grasp_loss,
    "amvur.vertex_loss": probabilistic.vertex_loss,
    "amvur.joint_loss": probabilistic.joint_loss,
    "amvur.joint2d_loss": probabilistic.joint2d_loss,
    "amvur.camera_loss": probabilistic.camera_loss,
    "amvur.weakly_supervised_loss": probabilistic.weakly_supervised_loss,
    "amvur.texture_loss": probabilistic.texture_loss,
}

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
