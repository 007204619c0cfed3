"""Every network of handrecon by name, for recipes (`model.name`): the framework's `hand_regressor`, the
knowledge-prior paper's `knowledge_prior` and `wildhands`, and the fit's initialiser `landmark_init`."""

from __future__ import annotations

from torch import nn

from handrecon.nn.hand_regressor import MODELS
from handrecon.nn.knowledge_regressor import KnowledgePriorRegressor
from handrecon.nn.landmark_init import LandmarkInitNet
from handrecon.nn.wildhands import WildHands

MODELS.setdefault("knowledge_prior", KnowledgePriorRegressor)
MODELS.setdefault("wildhands", WildHands)
MODELS.setdefault("landmark_init", LandmarkInitNet)


def build_model(name: str = "hand_regressor", **opts) -> nn.Module:
    """The network `name` of the registry built from its config options."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; available: {', '.join(sorted(MODELS))}")
    return MODELS[name](**opts)
