from dataclasses import replace

import numpy as np
import pytest

from handrecon.synth.config import SynthConfig
from handrecon.synth.engine import SynthEngine

SIZE = 96  # small images keep the tests fast


@pytest.fixture(scope="session")
def synth_engine() -> SynthEngine:
    """Single hands, half exocentric and half egocentric, with occluders."""
    return SynthEngine(SynthConfig(size=SIZE, seed=3, ego_prob=0.5, occluder_prob=0.6, texture_size=128))


def _with_second_hand(a, b):
    """Sample a with b's hand in its second slot (a label-level pair for the I/O tests: rendering a real pair
    resolves penetration, which costs seconds; the engine's pairs are tested in tests/synth)."""
    def pair(x, y):
        x, y = np.array(x), np.array(y)
        x[1] = y[0]
        return x

    names = ("side", "joints3d", "joints2d", "occlusion", "detections", "confidence", "vertices", "global_orient",
             "hand_pose", "betas", "transl", "angles", "category", "self_penetration")  # fmt: skip
    objects = a.objects.copy()
    objects[(b.objects == 1) & (a.objects == 0)] = 2
    fields = {n: pair(getattr(a, n), getattr(b, n)) for n in names}
    fields["side"][1] = 1 - fields["side"][0]
    return replace(a, objects=objects, rel_transl=b.joints3d[0, 0] - a.joints3d[0, 0], **fields)


@pytest.fixture(scope="session")
def samples(synth_engine):
    single = [synth_engine.sample(i) for i in range(5)]
    return [single[0], _with_second_hand(single[1], single[2]), *single[2:]]
