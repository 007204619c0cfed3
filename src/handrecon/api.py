"""`HandReconstructor`: the Python entry point. Thin: it wires the pipeline's parts together.

from handrecon import HandReconstructor
hands = HandReconstructor().reconstruct("photo.jpg")   # list[Hand], see handrecon.pipeline.results
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from handrecon.hand import HandModel
from handrecon.io import as_rgb_array, load_image, resolve_intrinsics
from handrecon.pipeline.image import ImageReconstructor, PipelineConfig
from handrecon.pipeline.results import Hand


class HandReconstructor:
    """Reconstruct every hand in photos (and video frames) in 3D, in the camera frame.

    model: "openhand" (bundled, default) or "mano" with `mano_dir` holding MANO_RIGHT.pkl / MANO_LEFT.pkl.
    Intrinsics: explicit fx/fy/cx/cy or fov (degrees, along the longer image side), else the image's EXIF
    focal length, else a default field of view (`handrecon.io.exif_camera.DEFAULT_FOV_DEG`).
    detector: "thorough" (default: every hand, verified proposals from palms, tiles and bodies; about 0.05 s
    more on a close-up, a few seconds on a large crowded photo, measured by benchmarks/bench_detection.py)
    or "fast" (MediaPipe's palm detector alone). max_hands: None keeps every hand found (fast: 2).
    """

    def __init__(
        self,
        model: str = "openhand",
        mano_dir: str | Path | None = None,
        detector: str = "thorough",
        max_hands: int | None = None,
        min_detection_confidence: float = 0.5,
        tta_passes: int = 0,
        texture: bool = True,
        fx: float | None = None,
        fy: float | None = None,
        cx: float | None = None,
        cy: float | None = None,
        fov: float | None = None,
        config: PipelineConfig | None = None,
    ) -> None:
        self.models = {side: HandModel(side=side, model=model, mano_dir=mano_dir) for side in ("right", "left")}
        cfg = config or PipelineConfig()
        cfg.detector, cfg.max_hands, cfg.min_detection_confidence = detector, max_hands, min_detection_confidence
        cfg.tta_passes, cfg.texture = tta_passes, texture
        self.config = cfg
        self.camera_flags = {"fx": fx, "fy": fy, "cx": cx, "cy": cy, "fov": fov}
        self.pipeline = ImageReconstructor(self.models, cfg)

    def intrinsics(self, width: int, height: int, exif=None, name: str | None = None) -> tuple[torch.Tensor, str]:
        """K (3, 3) float64 for an image, and where it came from ("flags", "fov", "exif", "default")."""
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
        """All hands in one image (path, PIL image or RGB array); [] when none is found."""
        rgb, K_auto, _ = self.load(image)
        K_used = torch.as_tensor(np.asarray(K), dtype=torch.float64) if K is not None else K_auto
        return self.pipeline(rgb, K_used)

    def close(self) -> None:
        self.pipeline.detector.close()
