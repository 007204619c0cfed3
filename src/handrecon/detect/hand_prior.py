"""Knowledge-prior check of a landmark set: could any plausible hand have made it?

The landmark model reads *something* hand-like on every crop; on a non-hand (a face, a sleeve, a pattern)
its two outputs often disagree with each other or with hand anatomy. Three measures, each computed on
one landmark set (the model's 2D keypoints and its metric 3D landmarks), none of them needing the image:

- `bone`: the proportions of the 3D skeleton against the hand model's mean hand. RMS over the 20 bones of
  log(bone / model bone), after removing the common scale (median log ratio).
- `rom`: the 3D skeleton brought onto the hand model by inverse kinematics (`handrecon.fit.initialize`),
  then the squared joint-angle range violations of the knowledge prior (`AnatomicalPosePrior`, functional
  ranges, radians^2 summed over joints and axes). A hand of either side may be meant (the model's
  handedness can be wrong), so the smaller of the right-hand reading and the mirrored (left) one is used.
- `projection`: the 2D keypoints against the 3D skeleton seen along the camera axis (the model's world
  landmarks are in the crop's axes, turned back into the camera's): RMS residual of the best 2D similarity
  fit, over the hand's 2D size. One hand makes both; two different guesses disagree.

Each measure is compared with a limit taken from hands read correctly on the project's synthetic renders
(`PRIOR_LIMITS`, rule in `benchmarks/bench_detection.py --calibrate-prior`); a landmark set beyond any limit is
"implausible".
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

# torch and the hand model (`handrecon.hand` loads torch) are imported by the measures that use them: the
# detector's modules import this one, and a detector without torch loaded is cheap to start.

# Limits of each measure: the 99.5th percentile of the measure over landmark sets read on hands of the
# synthetic renders (landmarks within a quarter hand of the truth), see `calibrate_limits`. Values printed by
# `python benchmarks/bench_detection.py --calibrate-prior 400` (seed 0).
PRIOR_LIMITS: dict[str, float] = {"bone": 0.61, "rom": 20.41, "projection": 0.28}


@dataclass(frozen=True)
class PriorCheck:
    """The three measures of one landmark set, and whether each is within its limit."""

    bone: float
    rom: float
    projection: float

    def as_dict(self) -> dict[str, float]:
        return {"bone": self.bone, "rom": self.rom, "projection": self.projection}

    def beyond(self, limits: dict[str, float] | None = None) -> list[str]:
        """Names of the measures beyond their limits (empty: a plausible hand)."""
        lim = PRIOR_LIMITS if limits is None else limits
        return [k for k, v in self.as_dict().items() if not v <= lim[k]]

    def plausible(self, limits: dict[str, float] | None = None) -> bool:
        return not self.beyond(limits)

    def describe(self, limits: dict[str, float] | None = None) -> str:
        lim = PRIOR_LIMITS if limits is None else limits
        parts = [f"{k} {v:.3f} {'<=' if v <= lim[k] else '>'} {lim[k]}" for k, v in self.as_dict().items()]
        return ", ".join(parts)


@functools.lru_cache(maxsize=1)
def _right_hand_model():
    """The bundled right hand model (float64) and its knowledge prior, loaded once per process."""
    import torch

    from handrecon.hand.model import HandModel
    from handrecon.priors.knowledge import AnatomicalPosePrior

    model = HandModel(side="right").double()
    prior = AnatomicalPosePrior.from_hand_model(model)
    with torch.no_grad():
        rest = model(joint_order="openpose", skin_mesh=False).joints[0].numpy()
    return model, prior, rest


def _bone_lengths(joints: np.ndarray) -> np.ndarray:
    """(..., 21, 3) OpenPose-order joints -> (..., 20) bone lengths."""
    from handrecon.hand.keypoints import OPENPOSE_BONES

    p, c = zip(*OPENPOSE_BONES, strict=True)
    return np.linalg.norm(joints[..., list(c), :] - joints[..., list(p), :], axis=-1)


def bone_misfit(world: np.ndarray, rest: np.ndarray) -> np.ndarray:
    """(B, 21, 3) skeletons -> (B,) RMS log ratio of bone lengths to the model's, common scale removed."""
    r = np.log(np.maximum(_bone_lengths(world), 1e-6) / np.maximum(_bone_lengths(rest), 1e-6))
    r = r - np.median(r, axis=-1, keepdims=True)
    return np.sqrt((r**2).mean(-1))


def projection_misfit(keypoints: np.ndarray, world: np.ndarray) -> np.ndarray:
    """(B, 21, 2) pixels and (B, 21, 3) metres -> (B,) RMS residual of the best 2D similarity map from the
    world landmarks' (x, y) onto the keypoints, over the keypoints' size."""
    out = np.empty(len(keypoints))
    for i, (kp, w) in enumerate(zip(keypoints, world, strict=True)):
        a = w[:, :2] - w[:, :2].mean(0)
        b = kp - kp.mean(0)
        # complex least squares: b ~ s e^{i t} a
        za, zb = a[:, 0] + 1j * a[:, 1], b[:, 0] + 1j * b[:, 1]
        q = np.vdot(za, zb) / max(float(np.vdot(za, za).real), 1e-12)
        res = np.abs(zb - q * za)
        size = max(float(np.ptp(kp, 0).max()), 1.0)
        out[i] = float(np.sqrt((res**2).mean())) / size
    return out


def rom_violation(world: np.ndarray) -> np.ndarray:
    """(B, 21, 3) skeletons -> (B,) squared range violation (radians^2) of the best-fitting hand of either
    side: inverse kinematics onto the right hand model, for the skeleton and its mirror image."""
    import torch

    from handrecon.fit.initialize import inverse_kinematics

    model, prior, rest = _right_hand_model()
    w = torch.as_tensor(world, dtype=torch.float64)
    w = w - w[:, :1]
    # the model's size, so that the rest-pose bones match the target's in the mean
    scale = np.linalg.norm(rest - rest[0], axis=-1).sum() / torch.linalg.vector_norm(w, dim=-1).sum(-1).clamp_min(1e-9)
    w = w * scale[:, None, None]
    mirror = torch.tensor([-1.0, 1.0, 1.0], dtype=torch.float64)
    both = torch.cat([w, w * mirror])
    params = inverse_kinematics(model, both)
    v = prior.violations(params.hand_pose).square().sum((1, 2)).numpy()
    n = len(world)
    return np.minimum(v[:n], v[n:])


def check_landmarks(keypoints: np.ndarray, world: np.ndarray) -> list[PriorCheck]:
    """The three measures for each of B landmark sets ((B, 21, 2) pixels, (B, 21, 3) metres)."""
    kp = np.asarray(keypoints, dtype=np.float64).reshape(-1, 21, 2)
    w = np.asarray(world, dtype=np.float64).reshape(-1, 21, 3)
    if len(kp) == 0:
        return []
    _, _, rest = _right_hand_model()
    bone = bone_misfit(w, rest)
    rom = rom_violation(w)
    proj = projection_misfit(kp, w)
    return [PriorCheck(float(b), float(r), float(p)) for b, r, p in zip(bone, rom, proj, strict=True)]


def calibrate_limits(checks: list[PriorCheck], quantile: float = 0.995) -> dict[str, float]:
    """Limits from landmark sets of true hands: the `quantile` of each measure (rounded up to 2 digits)."""
    out = {}
    for k in ("bone", "rom", "projection"):
        v = np.array([c.as_dict()[k] for c in checks])
        out[k] = float(np.ceil(np.quantile(v, quantile) * 100) / 100)
    return out
