"""Loss term `joint_variance_nll`, added to `handrecon.train.losses.LOSS_TERMS` on import: the Gaussian
negative log-likelihood of the root-relative 3D joint errors under the predicted per-joint variance
(`HandPrediction.joint_variance`, m^2 per coordinate; `priors.gaussian.gaussian_nll`).

The error is taken as given (its gradient stopped): the term teaches the variance how far each joint tends
to be off, while the joints themselves are trained by the other terms, so a large predicted variance
cannot excuse a wrong joint (the down-weighting an NLL on the mean would allow).
"""

from __future__ import annotations

import torch

from handrecon.nn.prediction import HandPrediction
from handrecon.priors.gaussian import gaussian_nll
from handrecon.train.losses import LOSS_TERMS, Batch


def joint_variance_nll_term(pred: HandPrediction, batch: Batch, **_) -> torch.Tensor:
    """Mean over valid joints and coordinates of -log N(gt; pred (detached), joint_variance)."""
    if pred.joint_variance is None:
        raise ValueError("joint_variance_nll needs a network that predicts joint_variance")
    target = batch["joints_3d"][:, 0].to(pred.joints)
    valid = batch["joints_3d_valid"][:, 0].to(pred.joints) * batch["joints_3d_valid"][:, 0, :1].to(pred.joints)
    p = (pred.joints - pred.joints[:, :1]).detach()
    g = target - target[:, :1]
    nll = gaussian_nll(p, g, pred.joint_variance[..., None].expand_as(p)).mean(-1)  # (B, 21)
    return (nll * valid).sum() / valid.sum().clamp_min(1.0)


LOSS_TERMS.setdefault("joint_variance_nll", joint_variance_nll_term)
