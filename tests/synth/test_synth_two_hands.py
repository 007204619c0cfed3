"""Two-hand samples: spliced close together, no penetration beyond the tolerance, consistent labels."""

import numpy as np
import torch

from handrecon.priors.penetration import two_hand_penetration_depth
from handrecon.synth.compose import PRIMARY, SECOND
from handrecon.synth.scene.two_hands import TEMPLATES


def test_two_hand_samples_do_not_interpenetrate(two_hand_engine, two_hand_samples):
    models = two_hand_engine.scenes.models
    tol = two_hand_engine.config.two_hand_max_penetration
    for s in two_hand_samples:
        assert s.num_hands == 2 and list(s.side) == [0, 1]
        va = torch.as_tensor(s.vertices[0][None])
        vb = torch.as_tensor(s.vertices[1][None])
        depth = float(two_hand_penetration_depth(va, vb, models["right"], models["left"])[0])
        assert depth <= tol + 1e-4
        assert abs(depth - s.two_hand_penetration) < 5e-4
        # Spliced close: the hands nearly touch (interaction), they are not placed far apart.
        gap = torch.cdist(va, vb).min().item()
        assert gap < 0.03
        assert s.interaction in TEMPLATES


def test_two_hand_labels(two_hand_samples):
    for s in two_hand_samples:
        np.testing.assert_allclose(s.rel_transl, s.joints3d[1, 0] - s.joints3d[0, 0], atol=1e-6)
        assert (s.objects == PRIMARY).any() or (s.objects == SECOND).any()
        assert np.isfinite(s.joints2d).all() and np.isfinite(s.detections).all()
