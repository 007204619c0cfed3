import pytest

from handrecon.synth.config import SynthConfig
from handrecon.synth.engine import SynthEngine

SIZE = 96  # small images keep the tests fast


@pytest.fixture(scope="session")
def synth_engine() -> SynthEngine:
    """Single hands and pairs, half exocentric and half egocentric, with occluders."""
    return SynthEngine(
        SynthConfig(size=SIZE, seed=3, ego_prob=0.5, occluder_prob=0.6, two_hand_prob=0.4, texture_size=128)
    )


@pytest.fixture(scope="session")
def samples(synth_engine):
    return [synth_engine.sample(i) for i in range(6)]
