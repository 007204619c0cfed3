"""Video reconstruction: MediaPipe's tracking mode, hand identities, filtered keypoints, warm-started fits
with a temporal term, one JSON per frame and an MP4 overlay. Texture is not computed per frame."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from handrecon.detect.uncertainty import keypoint_sigma
from handrecon.io import InputError, VideoReader, VideoWriter, write_json_atomic
from handrecon.pipeline.background import BackgroundWriter
from handrecon.pipeline.image import ImageReconstructor
from handrecon.pipeline.outputs import image_record, overlay_image
from handrecon.pipeline.results import Hand
from handrecon.pipeline.tracking import HandTracker
from handrecon.pipeline.video_detector import TrackingDetector


@dataclass
class VideoSummary:
    frames: int = 0
    frames_with_hands: int = 0
    frame_failures: list[tuple[int, str]] = field(default_factory=list)
    json_dir: Path | None = None
    overlay: Path | None = None
    seconds: float = 0.0

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


class VideoReconstructor:
    """Per-frame reconstruction with state carried between frames (tracks, filters, last parameters)."""

    def __init__(self, image_reconstructor: ImageReconstructor) -> None:
        base = image_reconstructor
        video = base.config.video
        cfg = dataclasses.replace(
            base.config,
            tta_passes=0,
            texture=False,
            weights=dataclasses.replace(base.config.weights, temporal=video.temporal_weight),
            # the caller's fit settings, with the video's iteration count and no penetration stage per frame
            fit=dataclasses.replace(base.config.fit, iterations=video.iterations, test_penetration=False),
        )
        detector = TrackingDetector(
            cfg.max_hands or 2, cfg.min_detection_confidence, search_every=video.search_every
        )
        self.image = ImageReconstructor(base.models, cfg, detector=detector)
        self.tracker = HandTracker()

    def __call__(self, rgb: np.ndarray, K: torch.Tensor, frame: int, t: float) -> list[Hand]:
        dets = self.image.detector.track(rgb)
        tracks = self.tracker.update(dets, frame, t)
        for d in dets:
            d.sigma = keypoint_sigma(d, self.image.calibration)
        previous = [tr.params for tr in tracks]
        hands = self.image.reconstruct_detections(
            rgb, dets, K, previous=previous, init=previous, texture=False,
            check_penetration=frame % self.image.config.video.penetration_check_every == 0,
        )  # fmt: skip
        for tr, h, d in zip(tracks, hands, dets, strict=True):
            tr.params = self.image.fitter_params(h)
            h.track_id = d.track_id
        return hands

    def close(self) -> None:
        self.image.detector.close()


def reconstruct_video_file(
    rec, path: Path, out_dir: Path, formats=(), overlay: bool = True, progress: bool = True
) -> VideoSummary:
    """Reconstruct every frame of a video file into `out_dir` (frames/*.json and <stem>_overlay.mp4); the
    files of frame i are written in the background while frame i + 1 is reconstructed."""
    from tqdm import tqdm

    reader = VideoReader(path)
    K, k_source = rec.intrinsics(reader.width, reader.height, name=str(path))
    Kn = K.numpy()
    summary = VideoSummary(json_dir=out_dir / "frames")
    summary.json_dir.mkdir(parents=True, exist_ok=True)
    video = VideoReconstructor(rec.pipeline)
    fps = reader.fps or 30.0
    writer = VideoWriter(out_dir / f"{path.stem}_overlay.mp4", fps) if overlay else None
    background = BackgroundWriter()
    state = {"last": None}  # the last overlay frame, touched only by the background thread

    def write_frame(fr, hands: list[Hand]) -> None:
        rec_json = image_record(
            f"{path}#frame={fr.index}", fr.rgb.shape[1], fr.rgb.shape[0], Kn, hands,
            extra={"frame": fr.index, "timestamp_s": fr.timestamp, "camera_source": k_source},
        )  # fmt: skip
        write_json_atomic(summary.json_dir / f"{path.stem}_{fr.index:06d}.json", rec_json)
        if writer is not None:
            state["last"] = overlay_image(fr.rgb, hands, Kn, uncertainty=False)
            writer.write(state["last"])

    def repeat_last() -> None:
        if writer is not None and state["last"] is not None:
            writer.write(state["last"])  # keep the overlay's timing

    start = time.perf_counter()
    try:
        total = reader.frame_count or None
        for fr in tqdm(reader, total=total, desc=path.name, unit="frame", disable=not progress, leave=False):
            summary.frames += 1
            if not fr.ok:
                summary.frame_failures.append((fr.index, fr.error or "unreadable frame"))
                background.submit(repeat_last)
                continue
            hands = video(fr.rgb, K, fr.index, fr.timestamp if fr.timestamp is not None else fr.index / fps)
            summary.frames_with_hands += bool(hands)
            background.submit(write_frame, fr, hands)
        background.close()
        if writer is not None:
            if state["last"] is None:
                writer.abort()
                raise InputError(path, "no readable frame")
            writer.close()
            summary.overlay = out_dir / f"{path.stem}_overlay.mp4"
    except BaseException:
        background.abort()
        if writer is not None:
            writer.abort()
        raise
    finally:
        video.close()
    summary.seconds = time.perf_counter() - start
    return summary
