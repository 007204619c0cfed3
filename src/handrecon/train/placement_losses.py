"""Loss term `root_position`, added to `handrecon.train.losses.LOSS_TERMS` on import: where the hand is in
the camera, as the wrist's log depth and its direction (normalised coordinates x/z, y/z).

The root-relative terms say nothing about a hand's distance, yet the relative placement of two hands
(MRRPE) is the difference of their absolute positions. The depth is compared as a log ratio so that a 10 %
error costs the same for a close egocentric hand as for a far one (a metric error would let far hands
dominate a batch); the direction is nearly fixed by the detected keypoints already.
"""

from __future__ import annotations

import torch

from handrecon.nn.prediction import HandPrediction
from handrecon.train.losses import LOSS_TERMS, Batch

MIN_DEPTH_M = 1e-2


def root_position_term(pred: HandPrediction, batch: Batch, **_) -> torch.Tensor:
    """Mean over hands with a labelled wrist of (log z_pred - log z_gt)^2 + ||(x, y)/z_pred - (x, y)/z_gt||^2."""
    p = pred.joints[:, 0]
    g = batch["joints_3d"][:, 0, 0].to(p)
    valid = batch["joints_3d_valid"][:, 0, 0].to(p)
    zp, zg = p[:, 2].clamp_min(MIN_DEPTH_M), g[:, 2].clamp_min(MIN_DEPTH_M)
    err = (zp.log() - zg.log()).square() + (p[:, :2] / zp[:, None] - g[:, :2] / zg[:, None]).square().sum(-1)
    return (err * valid).sum() / valid.sum().clamp_min(1.0)


LOSS_TERMS.setdefault("root_position", root_position_term)
