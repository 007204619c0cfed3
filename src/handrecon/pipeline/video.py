"""Video reconstruction: MediaPipe's tracking mode, hand identities, filtered keypoints, warm-started fits
with a temporal term, one JSON per frame and an MP4 overlay. Texture is not computed per frame."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from handrecon.detect.types import HandDetection
from handrecon.detect.uncertainty import keypoint_sigma
from handrecon.fit.initialize import HandParams
from handrecon.fit.refine import FitResult
from handrecon.io import InputError, VideoReader, atomic_group, write_json_atomic
from handrecon.pipeline.background import BackgroundWriter, prefetch
from handrecon.pipeline.image import ImageReconstructor
from handrecon.pipeline.native_threads import single_threaded_native_pools
from handrecon.pipeline.outputs import image_record
from handrecon.pipeline.overlay_writer import overlay_writer, video_overlay_image
from handrecon.pipeline.results import Hand
from handrecon.pipeline.tracking import HandTracker, Track
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


@dataclass
class FrameFit:
    """A frame's fitted hands before packaging: the detections (filtered keypoints, track ids), the fit
    results, how each fit started, and whether the penetration depths are reported on this frame."""

    detections: list[HandDetection]
    fits: list[FitResult]
    initial: list[dict]
    check_penetration: bool


class VideoReconstructor:
    """Per-frame reconstruction with state carried between frames (tracks, filters, last parameters).

    A frame goes through three stages: `observe` (the tracking detector, the tracks and their keypoint
    filters), `fit` (the fit warm-started from each track's previous result) and `package` (the hand
    model's outputs and the reports of one frame). `observe` depends only on the previous frame's
    `observe`, so a video detects the next frame on a thread of its own while this one is fitted
    (`reconstruct_video_file`); `package` depends on its frame only. Calling the object runs the three in
    turn."""

    def __init__(self, image_reconstructor: ImageReconstructor) -> None:
        base = image_reconstructor
        video = base.config.video
        cfg = dataclasses.replace(
            base.config,
            init=video.init,  # a new track's start
            tta_passes=0,
            texture=False,
            weights=dataclasses.replace(base.config.weights, temporal=video.temporal_weight),
            # the caller's fit settings, with the video's step budget and stopping rule and no penetration
            # stage per frame
            fit=dataclasses.replace(
                base.config.fit,
                iterations=video.iterations,
                convergence_tolerance=video.convergence_tolerance,
                test_penetration=False,
            ),
            network_iterations=max(video.iterations, base.config.network_iterations),  # the video's own count
        )
        detector = TrackingDetector(
            cfg.max_hands or 2, cfg.min_detection_confidence, search_every=video.search_every
        )
        self.image = ImageReconstructor(base.models, cfg, detector=detector)
        self.tracker = HandTracker()

    def __call__(self, rgb: np.ndarray, K: torch.Tensor, frame: int, t: float) -> list[Hand]:
        dets, tracks = self.observe(rgb, frame, t)
        return self.package(rgb, K, self.fit(dets, tracks, K, frame))

    def observe(self, rgb: np.ndarray, frame: int, t: float) -> tuple[list[HandDetection], list[Track]]:
        """The frame's hands as tracked: detections with filtered keypoints, track ids and sigmas, and the
        track of each. Needs only the previous frame's `observe`, not its fit."""
        dets = self.image.detector.track(rgb)
        tracks = self.tracker.update(dets, frame, t)
        for d in dets:
            d.sigma = keypoint_sigma(d, self.image.calibration)
        return dets, tracks

    def fit(self, dets: list[HandDetection], tracks: list[Track], K: torch.Tensor, frame: int) -> FrameFit:
        """The fit of each tracked hand, started from (and held to) its track's previous result; stores
        this result in the track for the next frame. Frames must come in order."""
        check = frame % self.image.config.video.penetration_check_every == 0
        if not dets:
            return FrameFit([], [], [], check)
        previous = [tr.params for tr in tracks]
        obs, starts = self.image.observations(dets, K, previous)
        initial = list(self.image._initial_records)  # how each fit starts, recorded by `observations`
        fits = self.image.fitter.fit(obs, K, starts, previous)
        for tr, f in zip(tracks, fits, strict=True):
            tr.params = self._warm_start(f.params)
        return FrameFit(dets, fits, initial, check)

    def package(self, rgb: np.ndarray, K: torch.Tensor, fitted: FrameFit) -> list[Hand]:
        """The frame's hands (mesh, joints, reports) from its fit; independent of the other frames, so it
        may run beside the next frame's fit."""
        if not fitted.detections:
            return []
        hands = self.image.package(
            rgb, fitted.detections, fitted.fits, K, texture=False, check_penetration=fitted.check_penetration
        )
        for h, d, record in zip(hands, fitted.detections, fitted.initial, strict=True):
            h.initial = record
            h.track_id = d.track_id
        return hands

    @staticmethod
    def _warm_start(p: HandParams) -> HandParams:
        """The next frame's start: this frame's fit result, in float64 (a copy). Not through the axis-angle
        form the frame's `Hand` reports and back: that round trip moved it by ~1e-15 (the 3D joints of a
        90-frame clip came out bit-identical) and cost ~2 ms CPU a frame."""
        return p.detach().to(torch.float64, copy=True)

    def close(self) -> None:
        self.image.detector.close()


# A video's frame JSONs are committed in groups of this many frames (`atomic_group`: one fsync burst and one
# folder fsync per group instead of two fsyncs per frame).
JSON_FRAMES_PER_COMMIT = 30


def _frame_json_name(stem: str, index: int) -> str:
    return f"{stem}_{index:06d}.json"


def _remove_stale_frames(json_dir: Path, stem: str, keep: set[str]) -> None:
    """Remove frame JSONs of this video that an earlier run wrote and this one did not (a longer clip of
    the same name, frames unreadable now): the folder then holds this run's frames only."""
    pattern = re.compile(re.escape(stem) + r"_\d{6,}\.json", re.DOTALL)
    with contextlib.suppress(OSError):
        for name in os.listdir(json_dir):
            if name not in keep and pattern.fullmatch(name) and (json_dir / name).is_file():
                with contextlib.suppress(OSError):
                    (json_dir / name).unlink()


def reconstruct_video_file(
    rec, path: Path, out_dir: Path, formats=(), overlay: bool = True, progress: bool = True
) -> VideoSummary:
    """Reconstruct every frame of a video file into `out_dir` (frames/*.json and <stem>_overlay.mp4). While
    frame i is fitted, frame i + 1 is detected and frame i - 1 rendered and written, each on its own thread
    (2 cores busy instead of one stage after the other); results and files are those of the frames done
    one by one, in order. Nothing is written before a frame with a hand: a video in which no frame has one
    leaves no file (the caller reports it)."""
    reader = VideoReader(path)  # OpenCV is loaded from here on
    with single_threaded_native_pools():  # the stage threads below are the parallelism
        return _reconstruct_frames(rec, reader, path, out_dir, overlay, progress)


def _reconstruct_frames(
    rec, reader: VideoReader, path: Path, out_dir: Path, overlay: bool, progress: bool
) -> VideoSummary:
    """`reconstruct_video_file`'s frames, with the stages on their threads."""
    from tqdm import tqdm

    K, k_source = rec.intrinsics(reader.width, reader.height, name=str(path))
    Kn = K.numpy()
    summary = VideoSummary(json_dir=out_dir / "frames")
    created = [d for d in (out_dir, summary.json_dir) if not d.exists()]  # removed again if nothing is written
    summary.json_dir.mkdir(parents=True, exist_ok=True)
    fps = reader.fps or 30.0
    # made before the detector's threads start: the overlay's child process is forked here
    overlay_path = out_dir / f"{path.stem}_overlay.mp4"
    draw = video_overlay_image  # the painted overlay (`render.painted`); `overlay_image` draws it exactly
    writer = overlay_writer(overlay_path, fps, Kn, reader.width, reader.height, draw) if overlay else None
    try:
        video = VideoReconstructor(rec.pipeline)
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    background = BackgroundWriter()
    # touched only by the background thread: whether a hand was seen, the frame JSONs not yet committed
    state = {"hands_seen": False}
    pending: list[tuple[Path, dict]] = []
    written: set[str] = set()

    def commit_frames() -> None:
        with atomic_group():
            for p, doc in pending:
                write_json_atomic(p, doc)
        written.update(p.name for p, _ in pending)
        pending.clear()

    def write_frame(fr, hands: list[Hand]) -> None:
        rec_json = image_record(
            f"{path}#frame={fr.index}", fr.rgb.shape[1], fr.rgb.shape[0], Kn, hands,
            extra={"frame": fr.index, "timestamp_s": fr.timestamp, "camera_source": k_source},
        )  # fmt: skip
        pending.append((summary.json_dir / _frame_json_name(path.stem, fr.index), rec_json))
        state["hands_seen"] = state["hands_seen"] or bool(hands)
        if writer is not None:  # first: the overlay process draws the frame while the JSONs are committed
            writer.write(fr.rgb, hands)
        if state["hands_seen"] and len(pending) >= JSON_FRAMES_PER_COMMIT:
            commit_frames()

    def repeat_last() -> None:
        if writer is not None:
            writer.repeat_last()  # keep the overlay's timing

    def observed(frames):
        """(frame, its tracked detections or None when unreadable), on the detection thread."""
        for fr in frames:
            t = fr.timestamp if fr.timestamp is not None else fr.index / fps
            yield fr, (video.observe(fr.rgb, fr.index, t) if fr.ok else None)

    # Three threads besides this one, each a frame ahead of the next: decoding, detection (MediaPipe's
    # tracking graph, the tracks), this thread's fit and packaging, and the writer's JSON and overlay.
    frames = prefetch(reader)
    detections = observed(frames)
    detected = prefetch(detections, depth=4, name="handrecon-detector")  # slack for a search frame
    start = time.perf_counter()
    try:
        total = reader.frame_count or None
        for fr, seen in tqdm(detected, total=total, desc=path.name, unit="frame", disable=not progress, leave=False):
            summary.frames += 1
            if seen is None:
                summary.frame_failures.append((fr.index, fr.error or "unreadable frame"))
                background.submit(repeat_last)
                continue
            # packaged here, not on the writer thread: two threads of small torch operations hand the GIL
            # to each other at every operation, which cost more CPU than packaging saves the fit's thread
            hands = video.package(fr.rgb, K, video.fit(*seen, K, fr.index))
            summary.frames_with_hands += bool(hands)
            background.submit(write_frame, fr, hands)
        if summary.frames_with_hands:
            if writer is not None:  # the overlay's last frames and file flush overlap the last JSONs' commit
                background.submit(writer.end_input)
            background.submit(commit_frames)
        background.close()
        if summary.frames_with_hands == 0:  # write nothing
            if writer is not None:
                writer.abort()
            for d in reversed(created):
                with contextlib.suppress(OSError):
                    d.rmdir()  # only if still empty
            if writer is not None and not writer.has_frames:
                raise InputError(path, "no readable frame")
        else:
            if writer is not None:
                writer.close()
                summary.overlay = out_dir / f"{path.stem}_overlay.mp4"
            _remove_stale_frames(summary.json_dir, path.stem, written)
    except BaseException:
        background.abort()
        if writer is not None:
            writer.abort()
        raise
    finally:
        detected.close()  # stops the detection thread, then the decoding thread
        detections.close()
        frames.close()
        video.close()
    summary.seconds = time.perf_counter() - start
    return summary
