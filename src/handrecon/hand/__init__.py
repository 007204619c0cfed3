"""The parametric hand model, keypoint conventions and anatomy."""

from handrecon.hand.asset import HandAsset, load_openhand
from handrecon.hand.model import HandModel, HandOutput

__all__ = ["HandAsset", "HandModel", "HandOutput", "load_openhand"]
