"""handrecon.synth: labelled synthetic hand images, generated from the project's own hand model.

Real 3D-labelled data cannot be shipped, so handrecon renders its own: single hands and interacting pairs
with anatomically valid, penetration-free poses, skin-textured, lit, with forearms, occluders and camera
effects, seen by exocentric crops or egocentric wide-angle cameras; each sample carries exact labels
(masks, 3D / 2D joints, visibility, parameters, intrinsics) and simulated detector keypoints with
confidences for self-supervised training.

- `SynthEngine(SynthConfig(...)).sample(i)` -> `SynthSample` (numpy), a pure function of (seed, i);

The data-layer parts live in `handrecon.data`: `data.synthetic.SyntheticHandDataset` renders samples on the
fly for DataLoaders, `data.synthetic_set.generate_set` (and `handrecon synth`) write sets in
FreiHAND's layout through `data.freihand_writer`, `data.freihand.FreiHANDDataset` reads
it (and FreiHAND itself).
"""

from handrecon.synth.config import SynthConfig
from handrecon.synth.engine import SynthEngine, SynthSample
from handrecon.synth.joint_occlusion import Occlusion
from handrecon.synth.scene.hand_shapes import POSE_CATEGORIES

__all__ = [
    "POSE_CATEGORIES",
    "Occlusion",
    "SynthConfig",
    "SynthEngine",
    "SynthSample",
]
