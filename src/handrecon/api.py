"""`HandReconstructor`: the Python entry point. Thin: it wires the pipeline's parts together.

from handrecon import HandReconstructor
hands = HandReconstructor().reconstruct("photo.jpg")   # list[Hand], see handrecon.pipeline.results
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch

from handrecon.detect.types import HandDetection
from handrecon.hand import HandModel
from handrecon.io import as_rgb_array, check_camera_settings, check_intrinsics, load_image, resolve_intrinsics
from handrecon.pipeline.config import PipelineConfig
from handrecon.pipeline.image import ImageReconstructor
from handrecon.pipeline.results import Hand


class HandReconstructor:
    """Reconstruct every hand in photos (and video frames) in 3D, in the camera frame.

    model: "openhand" (bundled, default) or "mano" with `mano_dir` holding MANO_RIGHT.pkl / MANO_LEFT.pkl.
    Intrinsics: explicit fx/fy/cx/cy or fov (degrees, along the longer image side), else the image's EXIF
    focal length, else a default field of view (`handrecon.io.exif_camera.DEFAULT_FOV_DEG`).
    `config` holds every pipeline setting; the keywords detector ... texture override only what is
    passed (the caller's config is never changed). Settings out of range raise `SettingError`, unusable
    MANO files `ModelFileError` (both `handrecon.io.InputError`).
    detector: "thorough" (the default: every hand, verified proposals from palms, tiles and bodies; measured
    by benchmarks/bench_detection.py) or "fast" (MediaPipe's palm detector alone, at most 2 hands unless
    max_hands says otherwise). max_hands: None keeps every hand found.
    """

    def __init__(
        self,
        model: str = "openhand",
        mano_dir: str | Path | None = None,
        detector: str | None = None,
        max_hands: int | None = None,
        min_detection_confidence: float | None = None,
        tta_passes: int | None = None,
        texture: bool | None = None,
        init: str | None = None,
        fx: float | None = None,
        fy: float | None = None,
        cx: float | None = None,
        cy: float | None = None,
        fov: float | None = None,
        config: PipelineConfig | None = None,
    ) -> None:
        overrides = {
            "detector": detector,
            "max_hands": max_hands,
            "min_detection_confidence": min_detection_confidence,
            "tta_passes": tta_passes,
            "texture": texture,
            "init": init,
        }
        base = config or PipelineConfig()
        if init is not None:  # an explicit start applies to videos' new tracks too
            overrides["video"] = dataclasses.replace(base.video, init=init)
        # replace() builds a new config and runs its checks; the caller's object stays as it was
        self.config = dataclasses.replace(base, **{k: v for k, v in overrides.items() if v is not None})
        check_camera_settings(fx, fy, cx, cy, fov)
        self.camera_flags = {"fx": fx, "fy": fy, "cx": cx, "cy": cy, "fov": fov}
        self.models = {side: HandModel(side=side, model=model, mano_dir=mano_dir) for side in ("right", "left")}
        self.pipeline = ImageReconstructor(self.models, self.config)

    def intrinsics(self, width: int, height: int, exif=None, name: str | None = None) -> tuple[torch.Tensor, str]:
        """K (3, 3) float64 for an image, and where it came from ("flags", "fov", "exif", "default (why)")."""
        return resolve_intrinsics(width, height, exif=exif, name=name, **self.camera_flags)

    def load(self, image) -> tuple[np.ndarray, torch.Tensor, str]:
        """RGB array, intrinsics and their source for a path, PIL image or array."""
        if isinstance(image, (str, Path)):
            loaded = load_image(image)
            K, src = self.intrinsics(loaded.width, loaded.height, exif=loaded.exif, name=str(image))
            return loaded.rgb, K, src
        rgb = as_rgb_array(image)
        K, src = self.intrinsics(rgb.shape[1], rgb.shape[0])
        return rgb, K, src

    def reconstruct(self, image, K: torch.Tensor | np.ndarray | None = None) -> list[Hand]:
        """All hands in one image (path, PIL image or RGB array); [] when none is found. `K` (3x3), when
        given, must be a pinhole camera for this image's size (`handrecon.io.check_intrinsics`)."""
        rgb, K_auto, _ = self.load(image)
        K_used = K_auto if K is None else check_intrinsics(K, rgb.shape[1], rgb.shape[0], name="K")
        return self.pipeline(rgb, K_used)

    def reconstruct_detected(self, rgb: np.ndarray, K: torch.Tensor, dets: list[HandDetection]) -> list[Hand]:
        """The hands of detections already made on `rgb` (`handrecon.detect.front_end.detect_in_image` with
        this reconstructor's detector settings, e.g. by a pool's parent): the same results as
        `reconstruct(rgb, K)` without detecting again."""
        return self.pipeline.reconstruct_detections(rgb, self.pipeline.with_sigma(dets), K)

    def close(self) -> None:
        self.pipeline.detector.close()
