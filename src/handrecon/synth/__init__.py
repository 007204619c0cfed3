"""handrecon.synth: labelled synthetic hand images, generated from the project's own hand model.

Real 3D-labelled data cannot be shipped, so handrecon renders its own: single hands and interacting pairs
with anatomically valid, penetration-free poses, skin-textured, lit, with forearms, occluders and camera
effects, seen by exocentric crops or egocentric wide-angle cameras; each sample carries exact labels
(masks, 3D / 2D joints, visibility, parameters, intrinsics) and simulated detector keypoints with
confidences for self-supervised training.

- `SynthEngine(SynthConfig(...)).sample(i)` -> `SynthSample` (numpy), a pure function of (seed, i);
- `SyntheticHandDataset` (now in `handrecon.data.synthetic`) renders samples on the fly for DataLoaders;
- `generate_set` / `handrecon synth` write a set in FreiHAND's layout, `FreiHANDDataset` reads it (and
  FreiHAND itself).
"""

from handrecon.synth.config import SynthConfig
from handrecon.synth.dataset import SyntheticHandDataset
from handrecon.synth.engine import SynthEngine, SynthSample
from handrecon.synth.freihand import FreiHANDDataset, FreiHANDWriter, encode_sample
from handrecon.synth.generate import generate_set
from handrecon.synth.hand_shapes import POSE_CATEGORIES
from handrecon.synth.visibility import Occlusion

__all__ = [
    "POSE_CATEGORIES",
    "FreiHANDDataset",
    "FreiHANDWriter",
    "Occlusion",
    "SynthConfig",
    "SynthEngine",
    "SynthSample",
    "SyntheticHandDataset",
    "encode_sample",
    "generate_set",
]
