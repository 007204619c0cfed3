"""Detection in a pool's parent while its workers start.

With `--workers N` the fork server imports torch and the pipeline (about 4 s) on one core before any
worker exists, and the parent only waits. Meanwhile the parent runs the hand detector (LiteRT and OpenCV,
no torch) on photos from the end of the input list (the workers take theirs from the front); a task for
such a photo carries its detections, and the worker skips detection for it (it loads the photo, computes
the camera, the uncertainty and the fit itself). The parent stops as soon as a worker is ready. The
detections are those the worker would make: the same detector, settings and pixels
(`handrecon.detect.front_end.detect_in_image`; LiteRT results do not depend on the interpreter's thread
count). A photo the parent cannot read or detect is left to its worker, which reports it as always.

Nothing here imports torch: loading it in the parent would cost the 2-3 s of CPU this saves.
$HANDRECON_PREDETECT=0 turns it off.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PREDETECT_ENV = "HANDRECON_PREDETECT"

# LiteRT threads in the parent: the other core is busy importing the workers' modules.
PARENT_INTERPRETER_THREADS = 1


def predetect_enabled() -> bool:
    """On unless $HANDRECON_PREDETECT is "0" (benchmarks compare both)."""
    return os.environ.get(PREDETECT_ENV, "").strip() != "0"


@dataclass(frozen=True)
class DetectionSettings:
    """What the worker's detector would be built from (`PipelineConfig`'s detection settings)."""

    detector: str
    max_hands: int | None
    min_detection_confidence: float
    tta_passes: int
    max_side: int


def detection_settings(reconstructor: dict) -> DetectionSettings | None:
    """The detection settings of a `HandReconstructor(**reconstructor)`, or None when they cannot be told
    without building it (a `config` object) or are out of range (the workers then report that)."""
    from handrecon.detect.front_end import DEFAULT_DETECTOR
    from handrecon.io.errors import SettingError
    from handrecon.io.images import PROCESSING_MAX_SIDE
    from handrecon.pipeline.detection_settings import (
        DEFAULT_MIN_DETECTION_CONFIDENCE,
        DEFAULT_TTA_PASSES,
        check_detection_settings,
    )

    if reconstructor.get("config") is not None:
        return None

    def given(key: str, default):
        value = reconstructor.get(key)
        return default if value is None else value

    settings = DetectionSettings(
        detector=given("detector", DEFAULT_DETECTOR),
        max_hands=reconstructor.get("max_hands"),
        min_detection_confidence=given("min_detection_confidence", DEFAULT_MIN_DETECTION_CONFIDENCE),
        tta_passes=given("tta_passes", DEFAULT_TTA_PASSES),
        max_side=PROCESSING_MAX_SIDE,
    )
    try:
        check_detection_settings(
            settings.detector, settings.max_hands, settings.min_detection_confidence, settings.tta_passes
        )
    except SettingError:
        return None
    return settings


class StartupDetector:
    """The parent's detector: built on first use, one interpreter thread, closed by `close`."""

    def __init__(self, settings: DetectionSettings) -> None:
        self.settings = settings
        self._detector = None

    def detect(self, path: Path) -> list | None:
        """The detections of the photo at `path`, or None when this process leaves it to the worker (a
        video, a photo it cannot read, any error of the detector)."""
        from handrecon.detect.front_end import detect_in_image, make_detector
        from handrecon.detect.litert import fixed_interpreter_threads
        from handrecon.io.images import load_image
        from handrecon.pipeline.batch import VIDEO_EXTS

        if path.suffix.lower() in VIDEO_EXTS:
            return None
        s = self.settings
        try:
            rgb = load_image(path).rgb
            with fixed_interpreter_threads(PARENT_INTERPRETER_THREADS):  # interpreters are made on first use
                if self._detector is None:
                    self._detector = make_detector(s.detector, s.max_hands, s.min_detection_confidence)
                return detect_in_image(self._detector, rgb, s.max_side, s.tta_passes)
        except KeyboardInterrupt:
            raise
        except Exception:
            return None

    def close(self) -> None:
        if self._detector is not None:
            self._detector.close()
            self._detector = None
