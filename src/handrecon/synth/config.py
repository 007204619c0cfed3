"""Configuration of the synthetic data engine: what a set contains and how it is drawn."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from handrecon.synth.detections import DetectorNoise
from handrecon.synth.scene.cameras import CameraRanges
from handrecon.synth.scene.poses import MAX_PENETRATION_M, PoseMixture


@dataclass(frozen=True)
class SynthConfig:
    """A synthetic set is fully determined by this configuration and a sample index.

    two_hand_prob / ego_prob: fraction of two-hand and of egocentric samples (0 or 1 for pure sets).
    occluder_prob: fraction of samples with at least one occluding object (a second one half as often).
    skin_tone_range: interval of the Fitzpatrick-based tone axis (0 = type I, 1 = type VI) tones are drawn from.
    model: the hand model; the skin textures need its UV layout, which the bundled openhand model has.
    """

    size: int = 224
    seed: int = 0
    two_hand_prob: float = 0.0
    ego_prob: float = 0.0
    model: str = "openhand"
    texture_size: int = 256
    occluder_prob: float = 0.35
    skin_tone_range: tuple[float, float] = (0.0, 1.0)
    max_penetration: float = MAX_PENETRATION_M
    two_hand_max_penetration: float = 0.002
    mixture: PoseMixture = field(default_factory=PoseMixture)
    cameras: CameraRanges = field(default_factory=CameraRanges)
    detector: DetectorNoise = field(default_factory=DetectorNoise)

    def __post_init__(self) -> None:
        if self.size < 32:
            raise ValueError(f"image size must be at least 32 pixels, got {self.size}")
        for name in ("two_hand_prob", "ego_prob", "occluder_prob"):
            p = getattr(self, name)
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"{name} must lie in [0, 1], got {p}")
        lo, hi = self.skin_tone_range
        if not 0.0 <= lo <= hi <= 1.0:
            raise ValueError(f"skin_tone_range must satisfy 0 <= lo <= hi <= 1, got {self.skin_tone_range}")

    def as_dict(self) -> dict:
        return asdict(self)
