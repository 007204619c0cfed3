"""Sampled poses stay inside the functional-anatomy ranges and pass the self-penetration test."""

import numpy as np
import torch

from handrecon.hand.anatomy import Anatomy
from handrecon.hand.model import HandModel
from handrecon.hand.rom import range_of_motion
from handrecon.priors.knowledge import functional_ranges, range_violation
from handrecon.priors.penetration import self_penetration_depth
from handrecon.synth.rng import sample_streams
from handrecon.synth.scene.hand_shapes import POSE_CATEGORIES
from handrecon.synth.scene.poses import MAX_PENETRATION_M, PoseSampler, project_to_ranges

TOLERANCE_RAD = 1e-3


def _violation(angles: torch.Tensor) -> torch.Tensor:
    rom = range_of_motion(angles.dtype)
    return range_violation(angles, functional_ranges(angles, rom))


def test_projection_lands_inside_the_functional_ranges():
    g = torch.Generator().manual_seed(0)
    wild = torch.randn(500, 15, 3, generator=g, dtype=torch.float64) * 1.5  # far outside every range
    assert _violation(wild).max() > 0.5
    assert _violation(project_to_ranges(wild, range_of_motion(torch.float64))).max() < 1e-12


def test_sampled_poses_respect_the_ranges_on_both_sides():
    for side in ("right", "left"):
        model = HandModel(side=side)
        sampler = PoseSampler(model)  # the range check does not need the penetration test
        rngs = [sample_streams(7, i)["pose"] for i in range(300)]
        out = sampler.sample(rngs, torch.zeros(300, 10))
        # Back from the stored axis-angle pose through this side's anatomy: the joint rotations themselves.
        angles = Anatomy.from_hand_model(model).rotations_to_euler(model(hand_pose=out.hand_pose).rotations[:, 1:])
        assert _violation(angles.double()).max() < TOLERANCE_RAD
        assert set(out.category) <= set(POSE_CATEGORIES)
        assert len(set(out.category)) > 10  # the mixture reaches gestures, grasps and free poses


def test_accepted_poses_do_not_penetrate_themselves(samples, engine):
    for s in samples:
        k = 0
        model = engine.scenes.models["right" if s.side[k] == 0 else "left"]
        v = torch.as_tensor(s.vertices[k][None])
        depth = float(self_penetration_depth(v, model)[0])
        assert depth <= MAX_PENETRATION_M + 1e-4
        assert abs(depth - float(s.self_penetration[k])) < 5e-4
        assert _violation(torch.as_tensor(s.angles[k][None], dtype=torch.float64)).max() < TOLERANCE_RAD


def test_rejection_replaces_penetrating_candidates():
    model = HandModel()
    calls = []

    def depth(vertices):  # a test that rejects every first candidate of each sample
        d = torch.full((vertices.shape[0],), 0.0)
        if not calls:
            d[:] = 0.02
        calls.append(vertices.shape[0])
        return d

    out = PoseSampler(model, penetration=depth).sample([np.random.default_rng(i) for i in range(4)], torch.zeros(4, 10))
    assert calls == [4, 4] and out.tries == [2, 2, 2, 2]
    assert float(out.penetration.max()) == 0.0
