"""Pseudo-labels of the user's own photos and videos: the detector front end's 2D keypoints, per-joint
sigma, side and box, written once (`handrecon detect DIR --out OUT`) and read back as samples, so that the
weakly- and self-supervised methods (S2HAND, the knowledge-prior method) can train on the user's footage.

OUT/pseudo_labels.json:

    {"format": "handrecon-pseudo-labels", "version": 1, "keypoint_order": "openpose",
     "pixels": "continuous", "detector": {...settings...},
     "items": [{"image": path relative to OUT (or absolute), "source": the input file, "frame": video frame
                index or null, "time": seconds or null, "width": W, "height": H, "K": 3x3 guess,
                "K_source": "exif" | "default" | "fov" | "flags",
                "hands": [{"side": "right" | "left", "side_score": s, "keypoints": (21, 2) pixels,
                           "sigma": (21,) pixels, "box": [x0, y0, x1, y1]}]}]}

Video frames are stored as JPEG under OUT/frames/<video stem>/<frame %06d>.jpg (every `video_stride`-th
frame with a hand), so that a sample reads one image; photos are referenced where they are. Images where
no hand is found are listed with no hands (their count is part of what `data info` reports).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from handrecon.data.release import ReleaseDataset, SplitInfo, read_json, read_rgb
from handrecon.io.errors import InputError

LABELS_FILE = "pseudo_labels.json"
FORMAT = "handrecon-pseudo-labels"
VERSION = 1


@dataclass
class DetectorSettings:
    max_hands: int = 2
    min_detection_confidence: float = 0.5
    tta_passes: int = 0  # augmented passes: the sigma then includes the landmarks' spread


class FrontEnd:
    """The test-time detector front end, called as the image pipeline calls it: hands with keypoints,
    handedness and calibrated per-joint sigma."""

    def __init__(self, settings: DetectorSettings | None = None) -> None:
        from handrecon.detect.mediapipe_hands import MediaPipeHands
        from handrecon.detect.uncertainty import SigmaCalibration

        self.settings = settings or DetectorSettings()
        self.detector = MediaPipeHands(
            max_hands=self.settings.max_hands, min_detection_confidence=self.settings.min_detection_confidence
        )
        self.calibration = SigmaCalibration.load()

    def __call__(self, rgb: np.ndarray) -> list[dict[str, Any]]:
        from handrecon.detect.mediapipe_hands import TTAConfig
        from handrecon.detect.uncertainty import keypoint_sigma

        tta = TTAConfig(passes=self.settings.tta_passes) if self.settings.tta_passes > 0 else None
        hands = []
        for d in self.detector.detect(rgb, tta):
            hands.append(
                {
                    "side": d.handedness,
                    "side_score": float(d.handedness_score),
                    "keypoints": np.asarray(d.keypoints, dtype=np.float64),
                    "sigma": np.asarray(keypoint_sigma(d, self.calibration), dtype=np.float64),
                    "box": list(d.bbox),
                }
            )
        return hands

    def close(self) -> None:
        self.detector.close()


def _item(image: str, source: Path, rgb: np.ndarray, K: np.ndarray, k_source: str, hands, frame=None, time=None):
    return {
        "image": image,
        "source": str(source),
        "frame": frame,
        "time": time,
        "width": int(rgb.shape[1]),
        "height": int(rgb.shape[0]),
        "K": np.asarray(K, dtype=np.float64).tolist(),
        "K_source": k_source,
        "hands": [{k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in h.items()} for h in hands],
    }


def label_inputs(
    inputs: Iterable[Path],
    out: Path,
    front_end: Callable[[np.ndarray], list[dict]],
    camera: dict[str, float | None] | None = None,
    video_stride: int = 5,
    on_error: Callable[[str], None] | None = None,
    video_exts: Iterable[str] = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".flv"),
) -> dict:
    """Runs `front_end` on every photo and every `video_stride`-th video frame; writes OUT/pseudo_labels.json
    (atomically, at the end) and the kept video frames; returns the labels document. Bad inputs are reported
    through `on_error` (one line each) and skipped."""
    from handrecon.io import load_image, resolve_intrinsics, write_json_atomic
    from handrecon.io.video import VideoReader

    if video_stride < 1:
        raise ValueError(f"video_stride must be >= 1, got {video_stride}")
    camera = camera or {}
    video_exts = {e.lower() for e in video_exts}
    out.mkdir(parents=True, exist_ok=True)
    items = []
    for path in inputs:
        try:
            if path.suffix.lower() in video_exts:
                for frame in VideoReader(path):
                    if frame.index % video_stride:
                        continue
                    if not frame.ok:
                        if on_error:
                            on_error(f"{path} frame {frame.index}: {frame.error}")
                        continue
                    hands = front_end(frame.rgb)
                    if not hands:
                        continue
                    h, w = frame.rgb.shape[:2]
                    K, src = resolve_intrinsics(w, h, name=str(path), **camera)
                    rel = Path("frames") / path.stem / f"{frame.index:06d}.jpg"
                    _save_jpeg(out / rel, frame.rgb)
                    items.append(
                        _item(rel.as_posix(), path, frame.rgb, K.numpy(), src, hands, frame.index, frame.timestamp)
                    )
                continue
            loaded = load_image(path)
            K, src = resolve_intrinsics(loaded.width, loaded.height, exif=loaded.exif, name=str(path), **camera)
            hands = front_end(loaded.rgb)
            items.append(_item(_relative(path, out), path, loaded.rgb, K.numpy(), src, hands))
        except InputError as e:
            if on_error:
                on_error(str(e))
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "keypoint_order": "openpose",
        "pixels": "continuous",
        "detector": {k: v for k, v in getattr(front_end, "settings", DetectorSettings()).__dict__.items()},
        "items": items,
    }
    write_json_atomic(out / LABELS_FILE, doc)
    return doc


def _relative(path: Path, out: Path) -> str:
    """`path` relative to OUT when both are on one drive (labels and photos then move together), else
    absolute."""
    try:
        return Path(os.path.relpath(path.resolve(), out.resolve())).as_posix()
    except ValueError:
        return str(path.resolve())


def _save_jpeg(path: Path, rgb: np.ndarray) -> None:
    from PIL import Image

    from handrecon.io import atomic_path

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        Image.fromarray(rgb).save(tmp, format="JPEG", quality=95)


class PseudoLabelDataset(ReleaseDataset):
    """Samples of a `handrecon detect` output folder. Keypoint confidence is the detector's hand score;
    the per-joint sigma (pixels) of each hand is in `extras["sigma"]`, the side score in
    `extras["side_score"]`, the source of the intrinsics guess in `extras["K_source"]`."""

    name: ClassVar[str] = "pseudo"
    splits: ClassVar[tuple[str, ...]] = ("train", "all")
    split_labels: ClassVar[dict[str, list[str]]] = {
        s: ["rgb", "K (guess)", "side", "keypoints_2d (detected)", "sigma", "box"] for s in ("train", "all")
    }

    def __init__(self, root: str | os.PathLike, split: str = "train", mano_dir=None) -> None:
        super().__init__(root, split, mano_dir)
        doc = read_json(self.root / LABELS_FILE)
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise InputError(self.root / LABELS_FILE, f"not a {FORMAT} file")
        if int(doc.get("version", 0)) > VERSION:
            raise InputError(self.root / LABELS_FILE, f"version {doc.get('version')} is newer than this reader's")
        items = doc.get("items", [])
        self.records = [it for it in items if it.get("hands")] if split == "train" else list(items)

    def image_path(self, item: dict) -> Path:
        p = Path(item["image"])
        return p if p.is_absolute() else self.root / p

    def load(self, item: dict):
        from handrecon.data.sample import HandLabel, Sample

        hands, sigma, scores = [], [], []
        for h in item.get("hands", []):
            kp = np.asarray(h["keypoints"], dtype=np.float64).reshape(21, 2)
            conf = np.full((21, 1), float(h.get("side_score", 1.0)))
            hands.append(
                HandLabel(side=h["side"], keypoints_2d=np.concatenate([kp, conf], 1), box=np.asarray(h["box"], float))
            )
            sigma.append(np.asarray(h["sigma"], dtype=np.float64).reshape(21))
            scores.append(float(h.get("side_score", 1.0)))
        path = self.image_path(item)
        rgb = read_rgb(path)
        if rgb.shape[:2] != (item["height"], item["width"]):
            raise InputError(
                path, f"image is {rgb.shape[1]}x{rgb.shape[0]}, labels are for {item['width']}x{item['height']}"
            )
        frame = item.get("frame")
        sid = item["source"] if frame is None else f"{item['source']}#{frame}"
        extras = {"sigma": sigma, "side_score": scores, "K_source": item.get("K_source"), "path": str(path)}
        return Sample(image=rgb, K=np.asarray(item["K"]), hands=hands, source=self.name, sample_id=sid, extras=extras)

    @classmethod
    def describe(cls, root: str | os.PathLike, **options) -> list[SplitInfo]:
        infos = super().describe(root, **options)
        for info in infos:
            info.note = "every photo and kept video frame" if info.name == "all" else "images where a hand was found"
        return infos


def open_pseudo(root, split: str = "train", **options) -> PseudoLabelDataset:
    """`open_dataset("pseudo", root, split)`: the output folder of `handrecon detect`; split "train" (images with
    hands) or "all"."""
    from handrecon.data.release import open_release

    return open_release(PseudoLabelDataset, root, split, **options)
