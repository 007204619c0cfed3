"""The synthetic data engine: sample index -> labelled image.

`SynthEngine.sample(i)` draws the scene of index i (`synth.scene`), renders it (`synth.compose`), applies
camera effects, and derives the labels: masks, 3D / 2D joints, per-joint visibility from the depth buffer,
simulated detections, model parameters. Every sample is computed on its own, from streams seeded by
(seed, index) only, so it is bit-identical whichever process, batch or order produces it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
import torch

from handrecon.geometry.camera import project_points
from handrecon.synth.appearance.effects import apply_effects
from handrecon.synth.compose import OCCLUDER, PRIMARY, PRIMARY_ARM, SECOND_ARM, SceneRenderer
from handrecon.synth.config import SynthConfig
from handrecon.synth.detections import simulate_detection
from handrecon.synth.joint_occlusion import Occlusion, joint_depth_tolerance, joint_occlusion
from handrecon.synth.scene.hand_shapes import POSE_CATEGORIES
from handrecon.synth.scene.sampler import Scene, SceneSampler

SIDES = ("right", "left")
MAX_HANDS = 2


@dataclass
class SynthSample:
    """One labelled sample. Hand arrays have 2 slots (primary hand first); absent slots hold NaN / -1.

    Coordinates: camera frame (OpenCV axes), metres; pixels with pixel (x, y) covering [x, x+1) x [y, y+1)
    (the renderer's convention), keypoints in OpenPose-21 order. Parameters are those of the named hand
    model (`model`): vertices = model(global_orient, hand_pose, betas, transl).vertices.
    """

    index: int
    image: np.ndarray  # (H, W, 3) uint8
    objects: np.ndarray  # (H, W) uint8: 0 background, 1 primary hand, 2 second hand, 3 occluder
    K: np.ndarray  # (3, 3)
    side: np.ndarray  # (2,) int8: 0 right, 1 left, -1 absent
    joints3d: np.ndarray  # (2, 21, 3)
    joints2d: np.ndarray  # (2, 21, 2)
    occlusion: np.ndarray  # (2, 21) int8 `Occlusion` codes, -1 absent
    detections: np.ndarray  # (2, 21, 2) simulated detector keypoints
    confidence: np.ndarray  # (2, 21) simulated detector confidences
    vertices: np.ndarray  # (2, V, 3)
    global_orient: np.ndarray  # (2, 3) axis-angle
    hand_pose: np.ndarray  # (2, 15, 3) axis-angle
    betas: np.ndarray  # (2, 10)
    transl: np.ndarray  # (2, 3)
    angles: np.ndarray  # (2, 15, 3) anatomical bend / splay / twist, radians
    category: np.ndarray  # (2,) int16 index into POSE_CATEGORIES, -1 absent
    self_penetration: np.ndarray  # (2,) metres (rejection test of the accepted pose)
    rel_transl: np.ndarray  # (3,) second hand's wrist minus the primary's, NaN for one hand
    two_hand_penetration: float  # metres, deepest vertex of either hand inside the other
    interaction: str  # splice template of a two-hand sample, "" otherwise
    egocentric: bool
    lighting: np.ndarray  # (11,)
    skin_tone: float
    background: str
    occluders: int
    effects: dict = field(default_factory=dict)
    model: str = "openhand"

    @property
    def num_hands(self) -> int:
        return int((self.side >= 0).sum())

    @property
    def visible(self) -> np.ndarray:
        """(2, 21) bool: joint inside the image and not hidden."""
        return self.occlusion == int(Occlusion.VISIBLE)

    def mask(self, slot: int = 0) -> np.ndarray:
        """(H, W) bool silhouette of the hand in `slot` (as the renderer's z-buffer resolved it)."""
        return self.objects == PRIMARY + slot

    @property
    def hand_mask(self) -> np.ndarray:
        """(H, W) bool: pixels of any hand."""
        return (self.objects > 0) & (self.objects < OCCLUDER)


def _empty(shape: tuple[int, ...], fill=np.nan, dtype=np.float32) -> np.ndarray:
    return np.full((MAX_HANDS, *shape), fill, dtype=dtype)


class SynthEngine:
    """Generates samples for one configuration; build one per process (it holds models and texture banks)."""

    def __init__(self, config: SynthConfig | None = None) -> None:
        self.config = config or SynthConfig()
        self.scenes = SceneSampler(self.config)
        self.renderer = SceneRenderer(
            self.scenes.models, self.scenes.forearms, self.config.size, self.config.texture_size
        )
        self.tolerance = joint_depth_tolerance(self.scenes.models["right"])

    def scene(self, index: int) -> Scene:
        return self.scenes.sample(index)

    def sample(self, index: int) -> SynthSample:
        """The labelled sample of `index`."""
        return self.label(self.scene(index))

    def samples(self, indices: Iterable[int]) -> Iterator[SynthSample]:
        for i in indices:
            yield self.sample(i)

    def label(self, scene: Scene) -> SynthSample:
        """Render a scene and derive all its labels."""
        cfg = self.config
        r = self.renderer.render(scene)
        image = apply_effects(r.image, scene.effects, scene.streams["effects"])
        depth, objects = r.depth.numpy(), r.objects.numpy()
        V = self.scenes.models["right"].num_vertices
        out = {
            "side": np.full(MAX_HANDS, -1, np.int8),
            "joints3d": _empty((21, 3)),
            "joints2d": _empty((21, 2)),
            "occlusion": np.full((MAX_HANDS, 21), -1, np.int8),
            "detections": _empty((21, 2)),
            "confidence": _empty((21,)),
            "vertices": _empty((V, 3)),
            "global_orient": _empty((3,)),
            "hand_pose": _empty((15, 3)),
            "betas": _empty((10,)),
            "transl": _empty((3,)),
            "angles": _empty((15, 3)),
            "category": np.full(MAX_HANDS, -1, np.int16),
            "self_penetration": _empty(()),
        }
        K = scene.K
        det_rng = scene.streams["detection"]
        blur = scene.effects.blur_px()
        for k, h in enumerate(scene.hands):
            uv = project_points(torch.as_tensor(h.joints[None]), torch.as_tensor(K))[0].numpy()
            own = (PRIMARY + k, PRIMARY_ARM if k == 0 else SECOND_ARM)
            occ = joint_occlusion(uv, h.joints[:, 2], depth, objects, own, self.tolerance)
            det = simulate_detection(det_rng, uv, occ, (cfg.size, cfg.size), blur, scene.effects.noise, cfg.detector)
            out["side"][k] = SIDES.index(h.side)
            out["joints3d"][k] = h.joints
            out["joints2d"][k] = uv
            out["occlusion"][k] = occ
            out["detections"][k] = det.keypoints
            out["confidence"][k] = det.confidence
            out["vertices"][k] = h.vertices
            out["global_orient"][k] = h.global_orient
            out["hand_pose"][k] = h.hand_pose
            out["betas"][k] = h.betas
            out["transl"][k] = h.transl
            out["angles"][k] = h.angles
            out["category"][k] = POSE_CATEGORIES.index(h.category)
            out["self_penetration"][k] = h.self_penetration
        rel = np.full(3, np.nan)
        if len(scene.hands) == 2:
            rel = scene.hands[1].joints[0] - scene.hands[0].joints[0]
        return SynthSample(
            index=scene.index,
            image=image,
            objects=objects,
            K=K,
            rel_transl=rel,
            two_hand_penetration=scene.two_hand_penetration,
            interaction=scene.interaction,
            egocentric=scene.egocentric,
            lighting=scene.lighting.numpy(),
            skin_tone=scene.skin_tone,
            background=scene.background_kind,
            occluders=len(scene.occluders),
            effects=scene.effects.as_dict(),
            model=cfg.model,
            **out,
        )
