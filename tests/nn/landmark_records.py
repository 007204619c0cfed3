"""Detector records of the `detected_synthetic` form made without rendering (for fast tests): hands of the
bundled model in random poses in front of a camera, "detected" as their true keypoints and root-relative
joints plus a little noise."""

from __future__ import annotations

import numpy as np
import torch

from handrecon.geometry.camera import project_points
from handrecon.hand.model import HandModel

_MODELS: dict[str, HandModel] = {}


def fake_records(n: int = 8, seed: int = 0, left_share: float = 0.5) -> dict[str, np.ndarray]:
    if "right" not in _MODELS:
        _MODELS.update({s: HandModel(side=s).double() for s in ("right", "left")})
    rng = np.random.default_rng(seed)
    K = np.array([[250.0, 0, 112], [0, 250.0, 112], [0, 0, 1]])
    rows: dict[str, list] = {k: [] for k in ("index", "K", "det_keypoints", "det_world", "det_left", "det_score",
                                             "true_left", "global_orient", "hand_pose", "betas", "transl",
                                             "joints_3d", "joints_2d")}
    for i in range(n):
        left = bool(rng.random() < left_share)
        go = rng.normal(0, 0.8, 3)
        hp = rng.normal(0, 0.2, (15, 3))
        betas = rng.normal(0, 0.5, 10)
        transl = np.array([rng.normal(0, 0.03), rng.normal(0, 0.03), rng.uniform(0.3, 0.5)])
        m = _MODELS["left" if left else "right"]
        with torch.no_grad():
            j = m(global_orient=torch.tensor(go[None]), hand_pose=torch.tensor(hp[None]),
                  betas=torch.tensor(betas[None]), transl=torch.tensor(transl[None]), skin_mesh=False).joints
        uv = project_points(j, torch.tensor(K))[0].numpy()
        j = j[0].numpy()
        for k, v in (("index", i), ("K", K), ("det_keypoints", uv + rng.normal(0, 1.0, uv.shape)),
                     ("det_world", j - j.mean(0) + rng.normal(0, 0.002, j.shape)), ("det_left", left),
                     ("det_score", 0.9), ("true_left", left), ("global_orient", go), ("hand_pose", hp),
                     ("betas", betas), ("transl", transl), ("joints_3d", j), ("joints_2d", uv)):
            rows[k].append(np.asarray(v))
    return {k: np.stack(v) for k, v in rows.items()}
