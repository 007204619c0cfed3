"""The detection settings of the pipeline, checked without loading any model or torch: the command line
checks its flags before any work, and the parent of a worker pool never needs torch."""

from __future__ import annotations

import math

from handrecon.detect.front_end import DETECTORS
from handrecon.io.errors import SettingError

MAX_HANDS_LIMIT = 64  # the landmark model runs once per hand: a crowd photo, not more
MAX_TTA_PASSES = 32
# defaults of `PipelineConfig`, here so that a pool's parent reads them without importing torch
DEFAULT_MIN_DETECTION_CONFIDENCE = 0.5
DEFAULT_TTA_PASSES = 0


def is_whole_number(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def check_detection_settings(
    detector: str, max_hands: int | None, min_detection_confidence: float, tta_passes: int
) -> None:
    """`SettingError` naming the first of these `PipelineConfig` settings outside its range."""
    if detector not in DETECTORS:
        raise SettingError("detector", f"unknown detector {detector!r}; choose from {', '.join(DETECTORS)}")
    if max_hands is not None and not (is_whole_number(max_hands) and 1 <= max_hands <= MAX_HANDS_LIMIT):
        raise SettingError("max_hands", f"must be a whole number from 1 to {MAX_HANDS_LIMIT}, got {max_hands!r}")
    conf = min_detection_confidence
    if not (isinstance(conf, (int, float)) and math.isfinite(conf) and 0.0 <= conf <= 1.0):
        raise SettingError("min_detection_confidence", f"must be a number from 0 to 1, got {conf!r}")
    if not (is_whole_number(tta_passes) and 0 <= tta_passes <= MAX_TTA_PASSES):
        raise SettingError("tta_passes", f"must be a whole number from 0 to {MAX_TTA_PASSES}, got {tta_passes!r}")
