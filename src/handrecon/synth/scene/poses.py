"""Single-hand pose sampling in anatomical angles: a mixture of free articulations, gestures and grasps.

Every candidate is built as (bend, splay, twist) per joint, projected into the functional-anatomy ranges
(`handrecon.priors.knowledge.functional_ranges`: ranges of motion plus the MCP bend/splay and DIP/PIP
coupling), converted to joint rotations with `Anatomy.euler_to_rotations`, and rejected when the
non-penetration prior finds self-penetration deeper than `max_penetration` (6 mm); after `max_tries`
the least penetrating candidate is kept. Rejection can run batched: each pending sample draws its next
candidate from its own stream, so its sequence of candidates never depends on the other samples (the
engine draws one sample at a time, which also keeps every float operation identical across batches).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from handrecon.geometry.rotations import matrix_to_axis_angle
from handrecon.hand.anatomy import Anatomy
from handrecon.hand.keypoints import MANO16_FINGER_JOINTS
from handrecon.hand.rom import range_of_motion
from handrecon.priors.knowledge import functional_ranges
from handrecon.synth.scene.hand_shapes import FINGERS4, GESTURES, GRASPS, SPREAD, HandShape
from handrecon.synth.scene.thumb_transfer import ThumbTransfer

# (B, V, 3) posed vertices -> (B,) deepest self-penetration in metres.
PenetrationDepth = Callable[[torch.Tensor], torch.Tensor]

MAX_PENETRATION_M = 0.006
DIP_PIP_RATIO = 0.7  # tendon coupling of an unloaded finger: DIP flexion is about two thirds of PIP flexion


@dataclass(frozen=True)
class PoseMixture:
    """Weights of the three families and the perturbation of templates (degrees, per angle)."""

    free: float = 0.35
    gesture: float = 0.35
    grasp: float = 0.30
    jitter_bend: float = 7.0
    jitter_splay: float = 4.0
    jitter_twist: float = 3.0
    max_tries: int = 30

    def probabilities(self) -> np.ndarray:
        w = np.array([self.free, self.gesture, self.grasp], dtype=np.float64)
        if (w < 0).any() or w.sum() <= 0:
            raise ValueError(f"pose mixture weights must be non-negative and not all zero, got {w.tolist()}")
        return w / w.sum()


def _finger_joints(name: str) -> list[int]:
    return [i - 1 for i in MANO16_FINGER_JOINTS[name]]


def free_articulation(rng: np.random.Generator) -> np.ndarray:
    """(15, 3) degrees: per-finger curls, shared across fingers more often than not (hand synergies)."""
    out = np.zeros((15, 3))
    shared = rng.random() < 0.6
    g = rng.random()
    for name in FINGERS4:
        c = float(np.clip(g + rng.normal(0.0, 0.2), 0.0, 1.0)) if shared else rng.random()
        j = _finger_joints(name)
        out[j[0], 0] = -25.0 + 95.0 * c + rng.normal(0.0, 10.0)
        out[j[0], 1] = SPREAD[name] * rng.uniform(-0.3, 1.8) + rng.normal(0.0, 3.0)
        pip = 85.0 * float(np.clip(c + rng.normal(0.0, 0.15), 0.0, 1.0))
        out[j[1], 0] = pip
        out[j[2], 0] = DIP_PIP_RATIO * pip + rng.normal(0.0, 8.0)
    # Thumb: the further its base swings across the palm (CMC flexion), the less its distal joints can
    # still flex before the tip runs into the palm or the index (rarely accepted otherwise).
    j = _finger_joints("thumb")
    cmc = rng.uniform(-60.0, 15.0)
    across = max(0.0, cmc + 25.0) / 40.0  # 0 with the thumb out to the side, 1 fully across
    out[j[0]] = (cmc, rng.uniform(0.0, 70.0), rng.uniform(-8.5, 8.5))
    out[j[1], 0] = rng.uniform(-10.0, 55.0 - 30.0 * across)
    out[j[2], 0] = rng.uniform(-15.0, 80.0 - 45.0 * across)
    return out


def jitter(angles_deg: np.ndarray, rng: np.random.Generator, mixture: PoseMixture) -> np.ndarray:
    """Gaussian perturbation of every angle (degrees)."""
    sigma = np.array([mixture.jitter_bend, mixture.jitter_splay, mixture.jitter_twist])
    return angles_deg + rng.normal(0.0, 1.0, angles_deg.shape) * sigma


def draw_candidate(
    rng: np.random.Generator, mixture: PoseMixture, thumb: ThumbTransfer | None = None
) -> tuple[np.ndarray, str]:
    """One candidate (15, 3) in degrees (not yet projected into the ranges) and its category name. `thumb`
    carries the templates' thumb onto the sampled rig (`thumb_transfer`; None: the authoring rig)."""
    thumb = thumb or ThumbTransfer.identity()
    family = rng.choice(3, p=mixture.probabilities())
    if family == 0:
        return thumb.apply(free_articulation(rng), "free", None), "free"
    size = None
    if family == 1:
        name = list(GESTURES)[rng.integers(len(GESTURES))]
        shape: HandShape = GESTURES[name]
    else:
        name = list(GRASPS)[rng.integers(len(GRASPS))]
        size = float(rng.random())
        shape = GRASPS[name](size)
    return jitter(thumb.apply(shape.angles_deg(), name, size), rng, mixture), name


def project_to_ranges(angles: torch.Tensor, rom: torch.Tensor) -> torch.Tensor:
    """Clamp (B, 15, 3) radians into the ranges of motion, then into the functional (coupled) ranges.

    Splay is clamped to the range left by the bend, which puts each MCP inside the coupled diamond; the
    bend then already lies in the range left by the (smaller) splay, and the DIP/PIP rule only raises the
    PIP's lower bound, so one final clamp lands inside every functional range.
    """
    lo, hi = rom[..., 0].to(angles), rom[..., 1].to(angles)
    a = torch.maximum(torch.minimum(angles, hi), lo)
    r = functional_ranges(a, rom)
    splay = torch.maximum(torch.minimum(a[..., 1], r[..., 1, 1]), r[..., 1, 0])
    a = torch.stack([a[..., 0], splay, a[..., 2]], -1)
    r = functional_ranges(a, rom)
    return torch.maximum(torch.minimum(a, r[..., 1]), r[..., 0])


@dataclass
class SampledPoses:
    """Accepted poses of a batch: anatomical angles and axis-angle hand_pose, plus bookkeeping."""

    angles: torch.Tensor  # (B, 15, 3) radians, inside the functional ranges
    hand_pose: torch.Tensor  # (B, 15, 3) axis-angle
    category: list[str]
    tries: list[int]
    penetration: torch.Tensor  # (B,) metres, deepest self-penetration of the accepted pose (0 when untested)


class PoseSampler:
    """Draws anatomically valid single-hand poses for one hand model (left and right share the angles)."""

    def __init__(
        self,
        model,
        mixture: PoseMixture | None = None,
        penetration: PenetrationDepth | None = None,
        max_penetration: float = MAX_PENETRATION_M,
    ) -> None:
        self.model = model
        self.anatomy = Anatomy.from_hand_model(model)
        self.rom = range_of_motion(model.dtype, model.device)
        self.mixture = mixture or PoseMixture()
        self.penetration = penetration
        self.max_penetration = max_penetration
        self.thumb = ThumbTransfer.for_model(model)  # the templates' thumb on this rig

    def to_hand_pose(self, angles: torch.Tensor) -> torch.Tensor:
        """(B, 15, 3) anatomical angles -> (B, 15, 3) axis-angle hand_pose of this model."""
        return matrix_to_axis_angle(self.anatomy.euler_to_rotations(angles))

    @torch.no_grad()
    def sample(self, rngs: Sequence[np.random.Generator], betas: torch.Tensor) -> SampledPoses:
        """One accepted pose per stream; betas (B, 10) shape the hand for the penetration test."""
        B = len(rngs)
        dtype = self.model.dtype
        angles = torch.zeros(B, 15, 3, dtype=dtype)
        best_depth = torch.full((B,), float("inf"), dtype=dtype)
        category = [""] * B
        tries = [0] * B
        pending = list(range(B))
        while pending:
            cand, names = [], []
            for i in pending:
                a, name = draw_candidate(rngs[i], self.mixture, self.thumb)
                cand.append(a)
                names.append(name)
                tries[i] += 1
            a = project_to_ranges(torch.as_tensor(np.radians(np.stack(cand)), dtype=dtype), self.rom)
            depth = self._depth(a, betas[pending])
            still = []
            for k, i in enumerate(pending):
                if float(depth[k]) < float(best_depth[i]):
                    best_depth[i] = depth[k]
                    angles[i] = a[k]
                    category[i] = names[k]
                ok = float(depth[k]) <= self.max_penetration
                if not ok and tries[i] < self.mixture.max_tries:
                    still.append(i)
            pending = still
        best_depth = torch.where(torch.isfinite(best_depth), best_depth, torch.zeros_like(best_depth))
        return SampledPoses(angles, self.to_hand_pose(angles), category, tries, best_depth)

    def _depth(self, angles: torch.Tensor, betas: torch.Tensor) -> torch.Tensor:
        if self.penetration is None:
            return torch.zeros(angles.shape[0], dtype=angles.dtype)
        out = self.model(hand_pose=self.to_hand_pose(angles), betas=betas)
        return self.penetration(out.vertices)
