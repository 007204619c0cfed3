"""handrecon.synth: labelled synthetic hand images, generated from the project's own hand model.

Real 3D-labelled data cannot be shipped, so handrecon renders its own: single hands and interacting pairs
with anatomically valid, penetration-free poses, skin-textured, lit, with forearms, occluders and camera
effects, seen by exocentric crops or egocentric wide-angle cameras; each sample carries exact labels
(masks, 3D / 2D joints, visibility, parameters, intrinsics) and simulated detector keypoints with
confidences for self-supervised training.

- `SynthEngine(SynthConfig(...)).sample(i)` -> `SynthSample` (numpy), a pure function of (seed, i);
- `generate_set` / `handrecon synth` write a set in FreiHAND's layout.

The data-layer parts live in `handrecon.data`: `data.synthetic.SyntheticHandDataset` renders samples on the
fly for DataLoaders, `data.freihand_writer` writes FreiHAND's layout, `data.freihand.FreiHANDDataset` reads
it (and FreiHAND itself).
"""

from handrecon.synth.config import SynthConfig
from handrecon.synth.engine import SynthEngine, SynthSample
from handrecon.synth.generate import generate_set
from handrecon.synth.hand_shapes import POSE_CATEGORIES
from handrecon.synth.visibility import Occlusion

__all__ = [
    "POSE_CATEGORIES",
    "Occlusion",
    "SynthConfig",
    "SynthEngine",
    "SynthSample",
    "generate_set",
]
