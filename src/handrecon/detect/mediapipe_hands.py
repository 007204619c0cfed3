"""MediaPipe Hands front end: all hands in an image with 2D keypoints, metric 3D landmarks, handedness.

MediaPipe 0.10.21 bundles its palm-detection and landmark models in the wheel and runs offline. It
reports handedness as if the image were a mirrored selfie; photos and videos are not mirrored, so the
label is swapped unless `mirrored=True` (checked on InterHand2.6M's left/right labels).

Single images run MediaPipe's static-image graph (palm detection, then the landmark model per hand).
Per-joint uncertainty: MediaPipe gives none; `handrecon.detect.uncertainty` estimates it from what one
pass gives (the landmarks' relative depth, the bones' foreshortening, the handedness score). Optionally
(`tta`), a tracking-mode graph re-runs on K randomly warped copies of the image (small rotation, scale
and shift); landmarks are mapped back and their spread per joint is recorded in
`HandDetection.tta_spread`, a further input of the calibrated sigma (about one landmark-model run and
one palm detection per copy).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
import types
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from handrecon.detect.types import HandDetection
from handrecon.io.native_stderr import quiet_native_stderr

os.environ.setdefault("GLOG_minloglevel", "2")  # MediaPipe's C++ logging: errors only
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


# Modules MediaPipe's package imports but handrecon never uses: its drawing helpers' pyplot (about 0.6 s of a
# video's start-up on 2 cores) and its audio tasks' `sounddevice` (about 45 ms: it probes for PortAudio with
# the compiler and linker when imported).
DEFERRED_IMPORTS = ("matplotlib", "matplotlib.pyplot", "sounddevice")


class _DeferredModule(types.ModuleType):
    """Stands in for a module while MediaPipe is imported; the real module is imported at the first use of
    one of its attributes."""

    def __getattr__(self, name: str):
        if name.startswith("__"):  # import machinery probing the module
            raise AttributeError(name)
        # used while MediaPipe still imports (another thread): the stand-ins give way to the real modules
        for key in DEFERRED_IMPORTS:
            if isinstance(sys.modules.get(key), _DeferredModule):
                del sys.modules[key]
        return getattr(importlib.import_module(self.__name__), name)


@contextlib.contextmanager
def _unused_imports_deferred() -> Iterator[None]:
    """`import` of a module of DEFERRED_IMPORTS yields a stand-in inside the block. After the block these
    modules import as usual, and a stand-in kept by MediaPipe forwards to the real module at its first use.
    A module already imported (or whose package is) is left alone."""
    stand_ins: dict[str, _DeferredModule] = {}
    for name in DEFERRED_IMPORTS:
        if name in sys.modules or name.split(".")[0] in sys.modules:
            continue
        stand_ins[name] = _DeferredModule(name)
    for name, stand_in in stand_ins.items():
        parent, _, child = name.rpartition(".")
        if parent in stand_ins:  # `import matplotlib.pyplot as plt` reads this attribute
            setattr(stand_ins[parent], child, stand_in)
    sys.modules.update(stand_ins)
    try:
        yield
    finally:
        for name, stand_in in stand_ins.items():
            if sys.modules.get(name) is stand_in:
                del sys.modules[name]


def import_mediapipe() -> types.ModuleType:
    """The `mediapipe` package, imported without the modules it never needs here (`DEFERRED_IMPORTS`)."""
    if "mediapipe" not in sys.modules:
        with _unused_imports_deferred():
            import mediapipe  # noqa: F401
    import mediapipe

    return mediapipe


@dataclass(frozen=True)
class TTAConfig:
    """Augmentations for the landmark spread: uniform rotation, log-uniform scale, shift (fraction of hand)."""

    passes: int = 2
    max_rotation_deg: float = 10.0
    max_scale: float = 1.08
    max_shift: float = 0.04
    seed: int = 0


def _affine(center: np.ndarray, angle_deg: float, scale: float, shift: np.ndarray) -> np.ndarray:
    """2x3 matrix rotating/scaling about `center` then shifting (pixels)."""
    a = np.deg2rad(angle_deg)
    c, s = np.cos(a) * scale, np.sin(a) * scale
    R = np.array([[c, -s], [s, c]])
    t = center - R @ center + shift
    return np.concatenate([R, t[:, None]], 1)


def _invert_affine(M: np.ndarray) -> np.ndarray:
    R_inv = np.linalg.inv(M[:, :2])
    return np.concatenate([R_inv, (-R_inv @ M[:, 2])[:, None]], 1)


class MediaPipeHands:
    """Detector of every hand in an image (or a video stream with `video=True`)."""

    def __init__(
        self,
        max_hands: int = 2,
        min_detection_confidence: float = 0.5,
        min_tracking_confidence: float = 0.3,
        model_complexity: int = 1,
        mirrored: bool = False,
        video: bool = False,
        fallback_passes: bool = True,
    ) -> None:
        self._mp = import_mediapipe()
        self.mirrored = mirrored
        self.video = video
        self.fallback_passes = fallback_passes
        self._options = {
            "max_num_hands": max_hands,
            "model_complexity": model_complexity,
            "min_detection_confidence": min_detection_confidence,
            "min_tracking_confidence": min_tracking_confidence,
        }
        self._graphs: dict[bool, object] = {}

    def _graph(self, static: bool):
        """MediaPipe's graph in static-image or tracking mode, created at first use. Tracking mode serves
        video and the augmented passes (reset per image: each copy is then tracked from the first pass)."""
        if static not in self._graphs:
            with quiet_native_stderr():
                self._graphs[static] = self._mp.solutions.hands.Hands(static_image_mode=static, **self._options)
        return self._graphs[static]

    def open_graph(self, static: bool = False) -> None:
        """Create the graph now instead of at its first image: MediaPipe then loads and prepares its models on
        its own threads (~0.1 s of CPU per graph) while the caller goes on, and the first image waits only
        for what is left of that. Results are the same."""
        self._graph(static)

    def close(self) -> None:
        for g in self._graphs.values():
            g.close()
        self._graphs.clear()

    def __enter__(self) -> MediaPipeHands:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -------------------------------------------------------------------------------------------
    def _run(self, rgb: np.ndarray, static: bool = False) -> list[HandDetection]:
        with quiet_native_stderr():
            res = self._graph(static).process(np.ascontiguousarray(rgb))
        H, W = rgb.shape[:2]
        out = []
        lms = res.multi_hand_landmarks or []
        worlds = res.multi_hand_world_landmarks or [None] * len(lms)
        hds = res.multi_handedness or [None] * len(lms)
        for lm, wl, hd in zip(lms, worlds, hds, strict=True):
            kp = np.array([[p.x * W, p.y * H, p.z * W] for p in lm.landmark], dtype=np.float64)
            world = np.array([[p.x, p.y, p.z] for p in wl.landmark], dtype=np.float64) if wl else np.zeros((21, 3))
            label, score = "right", 0.5
            if hd is not None:
                label = hd.classification[0].label.lower()
                score = float(hd.classification[0].score)
                if not self.mirrored:
                    label = "left" if label == "right" else "right"
            out.append(
                HandDetection(
                    keypoints=kp[:, :2].copy(),
                    world=world,
                    handedness=label,
                    handedness_score=score,
                    relative_depth=kp[:, 2] - kp[0, 2],
                )
            )
        return out

    def detect(self, rgb: np.ndarray, tta: TTAConfig | None = None) -> list[HandDetection]:
        """All hands in an RGB uint8 image (H, W, 3). With `tta`, also the landmark spread per joint."""
        if self.video:
            return self._run(rgb)
        augment = tta is not None and tta.passes > 0
        static = not augment  # the augmented passes track the hands found by a tracking-mode first pass
        if augment:
            self._graph(False).reset()
        dets, frame, offset = self._run(rgb, static), rgb, 0
        if not dets and self.fallback_passes:
            # second chance for hands filling the frame: the palm detector needs context around the palm
            frame, offset = self._padded(rgb)
            if augment:
                self._graph(False).reset()
            dets = self._run(frame, static)
            for d in dets:
                d.keypoints -= offset
                d.detector_pass = "padded"
        if augment and dets:
            self._spread(frame, dets, tta, offset)  # the tracker follows the frame the hands were found in
        return dets

    @staticmethod
    def _padded(rgb: np.ndarray) -> tuple[np.ndarray, int]:
        import cv2

        pad = int(0.25 * max(rgb.shape[:2]))
        return cv2.copyMakeBorder(rgb, pad, pad, pad, pad, cv2.BORDER_REPLICATE), pad

    def _spread(self, rgb: np.ndarray, dets: list[HandDetection], tta: TTAConfig, offset: int) -> None:
        """Run tracked passes on warped copies and record each joint's landmark spread (pixels)."""
        import cv2

        rng = np.random.default_rng(tta.seed)
        H, W = rgb.shape[:2]
        samples: list[list[np.ndarray]] = [[d.keypoints + offset] for d in dets]
        for _ in range(tta.passes):
            centre = np.mean([d.keypoints.mean(0) + offset for d in dets], 0)
            size = np.mean([d.size_px for d in dets])
            M = _affine(
                centre,
                rng.uniform(-tta.max_rotation_deg, tta.max_rotation_deg),
                float(np.exp(rng.uniform(-np.log(tta.max_scale), np.log(tta.max_scale)))),
                rng.uniform(-tta.max_shift, tta.max_shift, 2) * size,
            )
            warped = cv2.warpAffine(rgb, M, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            Minv = _invert_affine(M)
            for aug in self._run(warped):
                kp = aug.keypoints @ Minv[:, :2].T + Minv[:, 2]
                # assign to the nearest original detection (same hand)
                dist = [np.linalg.norm(kp - s[0], axis=1).mean() for s in samples]
                k = int(np.argmin(dist))
                if dist[k] < 0.5 * dets[k].size_px:
                    samples[k].append(kp)
        for d, s in zip(dets, samples, strict=True):
            pts = np.stack(s)  # (n, 21, 2)
            if len(pts) < 2:
                d.tta_spread = None
                continue
            # RMS distance to the mean over the passes (the detection pass included), isotropic per joint
            d.tta_spread = np.sqrt(((pts - pts.mean(0)) ** 2).sum(-1).mean(0) / 2) * np.sqrt(len(pts) / (len(pts) - 1))

    def track(self, rgb: np.ndarray) -> list[HandDetection]:
        """Video: next frame, with MediaPipe's own tracking between frames (palm detection only when lost)."""
        return self._run(rgb)
