import numpy as np
import pytest

from handrecon.synth.compose import OCCLUDER, PRIMARY, PRIMARY_ARM, SECOND_ARM
from handrecon.synth.config import SynthConfig
from handrecon.synth.engine import SynthEngine
from handrecon.synth.scene.occluders import fan_faces

SIZE = 96  # small images keep the tests fast; every code path is the same as at 224


@pytest.fixture(scope="session")
def engine() -> SynthEngine:
    """Single hands, half exocentric and half egocentric, with occluders more often than by default."""
    return SynthEngine(SynthConfig(size=SIZE, seed=3, ego_prob=0.5, occluder_prob=0.6, texture_size=128))


@pytest.fixture(scope="session")
def samples(engine):
    return [engine.sample(i) for i in range(12)]


@pytest.fixture(scope="session")
def two_hand_engine() -> SynthEngine:
    return SynthEngine(SynthConfig(size=SIZE, seed=5, two_hand_prob=1.0, occluder_prob=0.0, texture_size=128))


@pytest.fixture(scope="session")
def two_hand_samples(two_hand_engine):
    return [two_hand_engine.sample(i) for i in range(3)]


def _object_meshes(engine, scene):
    """(label, vertices, faces) of every object of a scene, each rasterized on its own below."""
    items = []
    for i, h in enumerate(scene.hands):
        model = engine.scenes.models[h.side]
        items.append((PRIMARY + i, h.vertices, model.faces.long()))
        topo = engine.scenes.forearms[h.side]
        V = model.num_vertices
        # The forearm shares the wrist loop with the hand: give it the hand's vertices followed by its own.
        verts = np.concatenate([h.vertices, h.arm.vertices])
        items.append((PRIMARY_ARM if i == 0 else SECOND_ARM, verts, topo.faces(0, V)))
    for o in scene.occluders:
        items.append((OCCLUDER, o.vertices, fan_faces()))
    return items


@pytest.fixture(scope="session")
def object_meshes():
    return _object_meshes
