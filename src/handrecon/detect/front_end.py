"""The detector front ends by name: what `--detector` and `HandReconstructor(detector=...)` choose.

- "thorough" (default for photos): palm detector on the image, its tiles and a zoomed-out view, hand
  regions at every body's wrists, crops beside each hand, each proposal verified by the hand-landmark model
  (`handrecon.detect.multi_source`). Every hand found, up to `max_hands` when given. Cost, measured by
  benchmarks/bench_detection.py on hard_dev (shared 2-core machine, both in one run): median 1.4 s per photo
  against 0.1 s for "fast"; on 256-px one-hand close-ups about 2.5x "fast", up to about 5 s on a 1024-px crowd.
- "fast": MediaPipe's legacy static-image graph alone (palm detector on the whole image, up to `max_hands`,
  2 when not given): today's speed, misses small, gloved and touching hands.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from handrecon.io.errors import InputError

if TYPE_CHECKING:
    import numpy as np

    from handrecon.detect.types import HandDetection

DETECTORS = ("thorough", "fast")
DEFAULT_DETECTOR = "thorough"
FAST_MAX_HANDS = 2


def make_detector(name: str = DEFAULT_DETECTOR, max_hands: int | None = None, min_detection_confidence: float = 0.5):
    """A detector with `detect(rgb, tta)`, `track(rgb)` and `close()`."""
    if name == "fast":
        from handrecon.detect.mediapipe_hands import MediaPipeHands

        return MediaPipeHands(max_hands=max_hands or FAST_MAX_HANDS, min_detection_confidence=min_detection_confidence)
    if name == "thorough":
        from handrecon.detect.multi_source import ThoroughHands, ThoroughSettings

        return ThoroughHands(max_hands, ThoroughSettings(palm_min_score=min_detection_confidence))
    raise InputError("--detector", f"unknown detector {name!r}; choose from {', '.join(DETECTORS)}")


def detect_in_image(detector, rgb: np.ndarray, max_side: int, tta_passes: int) -> list[HandDetection]:
    """Every hand `detector` finds in `rgb`, in the pixels of `rgb`: an image larger than `max_side` is
    detected on a downscaled copy. Without torch (a pool's parent detects with it while its workers start);
    the 2D uncertainty (`sigma`) is the pipeline's to attach."""
    from handrecon.detect.mediapipe_hands import TTAConfig
    from handrecon.io.images import downscale_for_processing

    tta = TTAConfig(passes=tta_passes) if tta_passes > 0 else None
    small, s = downscale_for_processing(rgb, max_side)
    dets = detector.detect(small, tta)
    del small
    if s != 1.0:  # back to the full image's pixels
        for d in dets:
            d.keypoints = d.keypoints / s
            d.tta_spread = None if d.tta_spread is None else d.tta_spread / s
            d.relative_depth = None if d.relative_depth is None else d.relative_depth / s
    return dets
