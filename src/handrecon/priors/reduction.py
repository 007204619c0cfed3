"""Batch reduction shared by every loss in `handrecon.priors`.

Each loss first computes one value per sample, shape (B,), following its paper's own convention inside
the sample (sum over joints, mean over pixels, ...). The batch is then reduced here, the same way for
all losses: "mean" (default, the mean over the batch), "sum", or "none" (the (B,) values, e.g. for
per-sample weighting or logging).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Literal

import torch

Reduction = Literal["mean", "sum", "none"]
Within = Literal["mean", "sum"]


def reduce_batch(per_sample: torch.Tensor, reduction: Reduction = "mean") -> torch.Tensor:
    """(B,) per-sample losses -> scalar ("mean", "sum") or (B,) ("none")."""
    if reduction == "mean":
        return per_sample.mean()
    if reduction == "sum":
        return per_sample.sum()
    if reduction == "none":
        return per_sample
    raise ValueError(f"unknown reduction {reduction!r}; expected 'mean', 'sum' or 'none'")


def sum_per_sample(x: torch.Tensor) -> torch.Tensor:
    """(B, ...) -> (B,) sum over every non-batch dimension."""
    return x.reshape(x.shape[0], -1).sum(1)


def mean_per_sample(x: torch.Tensor) -> torch.Tensor:
    """(B, ...) -> (B,) mean over every non-batch dimension."""
    return x.reshape(x.shape[0], -1).mean(1)


def squared_error(
    pred: torch.Tensor,
    target: torch.Tensor,
    valid: torch.Tensor | None = None,
    within: Within = "mean",
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """||pred - target||^2 per sample, its elements averaged (`within="mean"`) or summed ("sum") over every
    non-batch dimension, then `reduction` over the batch. `valid` (B,) or (B, N, ...) zeroes elements without
    a label; they still count in a per-sample mean, so a sample's weight does not depend on how many of its
    labels exist. The one squared-error loss behind the parameter, camera and keypoint losses of the papers,
    which differ only in `within`."""
    check_same_shape(pred=pred, target=target)
    err = (pred - target) ** 2
    w = expand_weight(valid, err, "valid")
    if w is not None:
        err = err * w
    if within == "mean":
        return reduce_batch(mean_per_sample(err), reduction)
    if within == "sum":
        return reduce_batch(sum_per_sample(err), reduction)
    raise ValueError(f"unknown within {within!r}; expected 'mean' or 'sum'")


def weighted_sum(terms: Mapping[str, torch.Tensor], weights: Mapping[str, float] | Any) -> torch.Tensor:
    """sum_k weights[k] * terms[k] over the terms that have a weight; a missing term with a non-zero weight
    is an error, so that a typo in a weight table never silently drops a loss. `weights` is a mapping or a
    weights dataclass (e.g. `egocentric.WildHandsWeights`, `knowledge.KnowledgePriorWeights`)."""
    if dataclasses.is_dataclass(weights):
        weights = dataclasses.asdict(weights)
    missing = [k for k, w in weights.items() if w != 0 and k not in terms]
    if missing:
        raise KeyError(f"weighted loss terms missing: {missing}; available: {sorted(terms)}")
    parts = [w * terms[k] for k, w in weights.items() if w != 0]
    if not parts:
        raise ValueError("every loss weight is zero: nothing to sum")
    return torch.stack(torch.broadcast_tensors(*parts)).sum(0)


def check_same_shape(**tensors: torch.Tensor) -> None:
    """Raise a ValueError naming the arguments when tensors that must match in shape do not."""
    shapes = {name: tuple(t.shape) for name, t in tensors.items()}
    if len(set(shapes.values())) > 1:
        listed = ", ".join(f"{k}={v}" for k, v in shapes.items())
        raise ValueError(f"shape mismatch: {listed}")


def expand_weight(weight: torch.Tensor | None, like: torch.Tensor, name: str = "weight") -> torch.Tensor | None:
    """Broadcast an optional per-sample (B,) or per-item (B, N) weight to the leading dims of `like`.

    `like` has shape (B, N, ...) (or (B, ...) for a per-sample weight); trailing singleton dims are
    appended so that the weight multiplies every coordinate of an item.
    """
    if weight is None:
        return None
    w = weight.to(dtype=like.dtype, device=like.device)
    if w.dim() > like.dim() or tuple(w.shape) != tuple(like.shape[: w.dim()]):
        raise ValueError(
            f"{name} of shape {tuple(weight.shape)} does not match the leading dims of {tuple(like.shape)}"
        )
    return w.reshape(*w.shape, *([1] * (like.dim() - w.dim())))
