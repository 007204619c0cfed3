"""The convention every loss follows (prediction first, target second, `valid` for element masks), the
registry the training side calls losses by, the shared squared error and the weight dataclasses."""

import dataclasses
import inspect

import pytest
import torch

from handrecon.priors import (
    LOSSES,
    InteractionLossWeights,
    KnowledgePriorWeights,
    WildHandsWeights,
    egocentric,
    probabilistic,
    squared_error,
    weighted_sum,
)

# Names a prediction goes by in the first argument (the papers' symbols kept where they say what it is).
PREDICTION_NAMES = {
    "pred", "mean", "rendered", "projected", "estimated", "logits", "reconstruction", "pred_heatmaps", "pred_vertices",
}  # fmt: skip
# ... and a target in the second; S2HAND's 2D-3D consistency compares two predictions, the 2D branch's as target.
TARGET_NAMES = {"target", "image", "detected", "target_heatmaps", "target_vertices", "estimated"}
# Losses without a target: regularisers of a prediction alone.
REGULARIZERS = {
    "knowledge.shape_regularizer", "knowledge.pose_limit_loss", "knowledge.non_penetration_loss",
    "s2hand.texture_regularizer", "s2hand.scale_regularizer", "s2hand.joint_angle_regularizer",
    "interaction.two_hand_penetration_loss",
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_prediction_first_target_second_valid_masks(name):
    params = list(inspect.signature(LOSSES[name]).parameters)
    assert "weight" not in params and "mask_weight" not in params, f"{name}: per-element masks are called `valid`"
    assert "reduction" in params, f"{name}: every loss reduces the batch by `reduction`"
    if name in REGULARIZERS:
        return
    assert params[0] in PREDICTION_NAMES, f"{name}: first argument {params[0]!r} is not a prediction"
    assert params[1] in TARGET_NAMES, f"{name}: second argument {params[1]!r} is not a target"


def test_squared_error_mean_or_sum_within_a_sample():
    pred = torch.tensor([[1.0, 2.0, 4.0], [0.0, 0.0, 0.0]], requires_grad=True)
    target = torch.zeros(2, 3)
    assert squared_error(pred, target, reduction="none").tolist() == pytest.approx([7.0, 0.0])
    assert squared_error(pred, target, within="sum", reduction="none").tolist() == pytest.approx([21.0, 0.0])
    valid = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0]])
    assert squared_error(pred, target, valid, reduction="none").tolist() == pytest.approx([5.0 / 3, 0.0])
    squared_error(pred, target).backward()
    assert (pred.grad[0] > 0).all()  # above the target: the gradient points up
    with pytest.raises(ValueError, match="within"):
        squared_error(pred, target, within="max")


def test_the_two_camera_losses_differ_only_in_the_reduction_within_a_sample():
    pred, target = torch.tensor([[1.5, 2.0, 1.0]]), torch.tensor([[1.0, 2.0, 3.0]])
    assert probabilistic.camera_loss(pred, target).item() == pytest.approx(4.25)  # AMVUR eq. 4: sum
    assert egocentric.camera_loss(pred, target).item() == pytest.approx(4.25 / 3)  # WildHands eq. 1: mean


@pytest.mark.parametrize("cls", [KnowledgePriorWeights, WildHandsWeights, InteractionLossWeights])
def test_weight_dataclasses_load_from_yaml(cls):
    """A recipe overrides one weight in YAML; the others keep the paper's values."""
    OmegaConf = pytest.importorskip("omegaconf").OmegaConf
    name = dataclasses.fields(cls)[0].name
    merged = OmegaConf.merge(OmegaConf.structured(cls), OmegaConf.create(f"{name}: 0.5"))
    weights = OmegaConf.to_object(merged)
    assert isinstance(weights, cls) and getattr(weights, name) == 0.5
    default = cls()
    assert all(getattr(weights, f.name) == getattr(default, f.name) for f in dataclasses.fields(cls)[1:])


def test_weighted_sum_takes_a_weights_dataclass():
    terms = {"pose": torch.tensor(1.0), "non_penetration": torch.tensor(2.0), "shape": torch.tensor(3.0)}
    assert weighted_sum(terms, KnowledgePriorWeights()).item() == pytest.approx(20000 + 40000 + 30)
