"""The test-time pipeline's settings: one structured dataclass config (YAML through
`handrecon.io.config_yaml`), checked when it is made, never mutated by the code that receives it."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from handrecon.detect.front_end import DEFAULT_DETECTOR
from handrecon.fit.energy import FitWeights
from handrecon.fit.refine import JACOBIANS, FitSettings
from handrecon.hand.tolerances import JOINT_LIMIT_TOLERANCE_DEG, PENETRATION_TOLERANCE_MM
from handrecon.io.errors import SettingError
from handrecon.io.images import PROCESSING_MAX_SIDE
from handrecon.pipeline.detection_settings import (
    DEFAULT_MIN_DETECTION_CONFIDENCE,
    DEFAULT_TTA_PASSES,
    MAX_HANDS_LIMIT,
    MAX_TTA_PASSES,
    check_detection_settings,
)
from handrecon.pipeline.detection_settings import is_whole_number as _is_int

INITS = ("ik", "network")  # the fit's start: inverse kinematics on the landmarks, or the landmark network
# the 3D shape a network-started fit's landmark term holds the hand to (see `PipelineConfig.network_shape`)
NETWORK_SHAPES = ("aligned", "network", "detector")
__all__ = [
    "MAX_HANDS_LIMIT", "MAX_TTA_PASSES", "INITS", "NETWORK_SHAPES", "PipelineConfig", "VideoSettings",
    "check_pipeline_config",
]  # fmt: skip


@dataclass(frozen=True)
class VideoSettings:
    """What a video frame does differently from a photo: a warm start from the previous frame, a temporal
    term, no per-frame penetration stage (its cost breaks the frame rate; depths are still reported every
    `penetration_check_every` frames). With one hand tracked, the full detector looks for more hands every
    `search_every` frames (`handrecon.pipeline.video_detector`)."""

    temporal_weight: float = 200.0
    iterations: int = 4
    # A frame's fit stops before `iterations` once a step lowers its energy by less than this fraction
    # (`FitSettings.convergence_tolerance`; photos use 1e-10). Warm-started and held by the temporal term,
    # a frame's fit is usually settled after 2-3 steps: 1e-3 spends 15-29 % fewer residual evaluations and
    # moved the 3D joints by 0.01-0.03 mm on average (0.31 mm at most) over 90-frame clips of 5 motions,
    # reprojection error and still-hand jitter unchanged (1e-2 moved them up to 9 mm).
    convergence_tolerance: float = 1e-3
    penetration_check_every: int = 5
    search_every: int = 15
    # How a new track's first fit starts (`PipelineConfig.init` is the photos'): inverse kinematics. A track
    # carries its first fit's shape and placement forward, and with the network start a still hand
    # jittered more (benchmarks/bench_reconstruct.py: 2.11 / 2.28 px tracked twice / once against 1.85 /
    # 2.01 with ik). An explicit `init` of `HandReconstructor` or `--init` sets both.
    init: str = "ik"


@dataclass
class PipelineConfig:
    detector: str = DEFAULT_DETECTOR  # "thorough" | "fast" (handrecon.detect.front_end)
    max_hands: int | None = None  # None: every hand found (the fast detector: 2)
    min_detection_confidence: float = DEFAULT_MIN_DETECTION_CONFIDENCE
    # augmented detector passes for the uncertainty (each costs about one detection)
    tta_passes: int = DEFAULT_TTA_PASSES
    texture: bool = True
    texture_size: int = 256
    # Larger photos are detected on a copy downscaled to this longer side (MediaPipe looks at 192-256 px
    # crops anyway) and textured from the hands' rectangle at full resolution, itself downscaled to
    # `texture_source_max_side` (a 256 texture gains nothing from more): a 100 MP photo stays under 2 GB.
    detection_max_side: int = PROCESSING_MAX_SIDE
    texture_source_max_side: int = 1024
    joint_limit_tolerance_deg: float = JOINT_LIMIT_TOLERANCE_DEG
    penetration_tolerance_mm: float = PENETRATION_TOLERANCE_MM
    # The fit's start for photos: "network" (the shipped landmark network, `pipeline.network_init`;
    # `init_checkpoint` None = the bundled file), from which the fit runs at most `network_iterations`
    # Levenberg-Marquardt steps, or "ik" (the detector's world landmarks placed by PnP, then inverse
    # kinematics, then `fit.iterations` steps). The network start is the default because it is better where
    # measured: labelled dev photos 2D 9.27 against 9.76 px, InterHand PA-MPJPE 11.28 against 14.46 mm
    # (benchmarks/bench_reconstruct.py --init ik network, with `network_shape` "aligned"; 9.48 px and 13.55 mm
    # with the detector's shape); synthetic renders (bench_synth_eval.py --limit 40) PA-MPJPE lower on all
    # four subsets; plausibility within the limits (max depth 5.56 mm, 3.00 degrees); the fit costs about half.
    # What it did less well with the detector's shape: two hands' placement relative to each other (MRRPE 144.7
    # against 139.5 mm on two_exo, 149.3 against 143.0 on two_ego). Videos keep their own start
    # (`VideoSettings.init`).
    init: str = "network"
    init_checkpoint: str | None = None
    # 3 steps: the fewest whose fit, on the synthetic renders (182 hands), is no worse than 4 steps' in 3D
    # (PA-MPJPE 0.15 mm better, camera-frame MPJPE equal) and within 1 % in 2D against the true keypoints
    # (+0.06 px); 2 steps lose 2 % in 2D. The energy still falls after 3 steps (by 4 % at the median), but
    # the further steps fit the detector's noise: they improve 2D slightly and worsen the 3D shape.
    # A relative-decrease stop saves almost nothing here (the first three steps lower the energy by more
    # than 2 % on 90 % of the hands). Fewer steps also push fewer fingers into the hand, so fewer hands
    # need a penetration round.
    network_iterations: int = 3
    # The 3D shape the fit's landmark term holds a network-started hand to (the term is scale-free, and
    # root-relative in the camera's axes, so it sets the articulation and the orientation):
    # - "aligned": the network's joints turned about the wrist onto the detector's world landmarks (placed by
    #   PnP): the network's articulation with the detector's orientation;
    # - "network": the network's joints as predicted; "detector": the detector's landmarks (as an ik start).
    # "aligned" by rule, on tuning renders apart from the benchmark (241 hands of 540 renders of all four
    # subsets, thorough detector, seeds 777101-777104): the choice that lowers PA-MPJPE with a paired 95 %
    # bootstrap interval below 0 and leaves camera-frame MPJPE and 2D no worse. Against "detector":
    # "aligned" -1.18 mm [-1.44, -0.93], MPJPE -3.2 mm [-7.9, +0.9], 2D -0.10 px; "network" -1.50 mm
    # [-1.81, -1.18] but MPJPE +5.1 mm [+2.4, +8.1] (the network's orientation is worse than the detector's).
    network_shape: str = "aligned"
    weights: FitWeights = field(default_factory=FitWeights)
    fit: FitSettings = field(default_factory=FitSettings)
    video: VideoSettings = field(default_factory=VideoSettings)

    def __post_init__(self) -> None:
        check_pipeline_config(self)


def check_pipeline_config(c: PipelineConfig) -> None:
    """`SettingError` naming the first setting outside its range."""
    check_detection_settings(c.detector, c.max_hands, c.min_detection_confidence, c.tta_passes)
    for name, init in (("init", c.init), ("video.init", c.video.init)):
        if init not in INITS:
            raise SettingError(name, f"unknown initialisation {init!r}; choose from {', '.join(INITS)}")
    if c.network_shape not in NETWORK_SHAPES:
        choices = ", ".join(NETWORK_SHAPES)
        raise SettingError("network_shape", f"unknown shape {c.network_shape!r}; choose from {choices}")
    if not (_is_int(c.network_iterations) and c.network_iterations >= 1):
        raise SettingError("network_iterations", f"must be a whole number >= 1, got {c.network_iterations!r}")
    if not (_is_int(c.texture_size) and 8 <= c.texture_size <= 8192):
        raise SettingError("texture_size", f"must be a whole number from 8 to 8192, got {c.texture_size!r}")
    for name in ("detection_max_side", "texture_source_max_side"):
        if not (_is_int(getattr(c, name)) and getattr(c, name) >= 256):
            raise SettingError(name, f"must be a whole number of at least 256 pixels, got {getattr(c, name)!r}")
    for name in ("joint_limit_tolerance_deg", "penetration_tolerance_mm"):
        v = getattr(c, name)
        if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
            raise SettingError(name, f"must be a non-negative number, got {v!r}")
    v = c.video
    counts_ok = all(_is_int(n) and n >= 1 for n in (v.iterations, v.penetration_check_every, v.search_every))
    if not (counts_ok and math.isfinite(v.temporal_weight) and v.temporal_weight >= 0):
        raise SettingError(
            "video", f"iterations, penetration_check_every, search_every >= 1 and temporal_weight >= 0: got {v}"
        )
    tol = v.convergence_tolerance
    if not (isinstance(tol, (int, float)) and 0 <= tol < 1):
        raise SettingError("video.convergence_tolerance", f"must be a number from 0 to 1, got {tol!r}")
    if not (_is_int(c.fit.iterations) and c.fit.iterations >= 1):
        raise SettingError("fit.iterations", f"must be a whole number >= 1, got {c.fit.iterations!r}")
    if c.fit.jacobian not in JACOBIANS:
        raise SettingError("fit.jacobian", f"unknown Jacobian {c.fit.jacobian!r}; choose from {', '.join(JACOBIANS)}")
