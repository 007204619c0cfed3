"""Single-shot detectors of the bundled models (palm, body): anchors, box/keypoint decoding, and the
weighted non-maximum suppression MediaPipe applies to them.

Anchor layout of MediaPipe's SSD models (fixed anchor size, one aspect ratio, two anchors per cell and
layer, layers with the same stride sharing one grid): palm detection 192x192 with strides 8, 16, 16, 16
(2016 anchors); pose detection 224x224 with strides 8, 16, 32, 32, 32 (2254 anchors).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from handrecon.detect.crops import RotatedRect, crop
from handrecon.detect.litert import TFLiteModel


def ssd_anchors(input_size: int, strides: tuple[int, ...]) -> np.ndarray:
    """(N, 2) anchor centres, normalised to [0, 1], in the models' order."""
    out = []
    i = 0
    while i < len(strides):
        n_same = 0
        while i + n_same < len(strides) and strides[i + n_same] == strides[i]:
            n_same += 1
        per_cell = 2 * n_same
        g = int(np.ceil(input_size / strides[i]))
        ys, xs = np.meshgrid((np.arange(g) + 0.5) / g, (np.arange(g) + 0.5) / g, indexing="ij")
        cells = np.stack([xs.ravel(), ys.ravel()], 1)
        out.append(np.repeat(cells, per_cell, axis=0))
        i += n_same
    return np.concatenate(out)


@dataclass
class SSDDetection:
    """One detection in image pixels: box (x0, y0, x1, y1), keypoints (K, 2), score in [0, 1]."""

    box: np.ndarray
    keypoints: np.ndarray
    score: float


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def weighted_nms(dets: list[SSDDetection], iou_threshold: float) -> list[SSDDetection]:
    """MediaPipe's weighted NMS: each kept detection is the score-weighted mean of the ones it suppresses."""
    order = sorted(range(len(dets)), key=lambda k: -dets[k].score)
    used = np.zeros(len(dets), bool)
    out = []
    for k in order:
        if used[k]:
            continue
        group = [j for j in order if not used[j] and box_iou(dets[k].box, dets[j].box) >= iou_threshold]
        for j in group:
            used[j] = True
        w = np.array([dets[j].score for j in group])
        w = w / w.sum()
        out.append(
            SSDDetection(
                box=np.sum([wj * dets[j].box for wj, j in zip(w, group, strict=True)], 0),
                keypoints=np.sum([wj * dets[j].keypoints for wj, j in zip(w, group, strict=True)], 0),
                score=dets[k].score,
            )
        )
    return out


class SSDDetector:
    """A bundled SSD model run on a square region of the image (the whole image or a tile)."""

    def __init__(
        self,
        model: str,
        strides: tuple[int, ...],
        num_keypoints: int,
        value_range: tuple[float, float],
        min_score: float = 0.5,
        nms_iou: float = 0.3,
    ) -> None:
        self.model = TFLiteModel(model)
        self.strides = strides
        self.num_keypoints = num_keypoints
        self.value_range = value_range
        self.min_score = min_score
        self.nms_iou = nms_iou
        self._anchors: np.ndarray | None = None
        # every anchor of the last run: box centres in image pixels (N, 2) and scores (N,), for a caller that asks
        # where the detector saw anything at all (`handrecon.detect.close_up.palm_evidence`)
        self.last_anchor_scores: tuple[np.ndarray, np.ndarray] | None = None

    def detect(self, rgb: np.ndarray, region: RotatedRect | None = None) -> list[SSDDetection]:
        """Detections in image pixels inside `region` (default: the whole image, letterboxed)."""
        return self.detect_with_weak(rgb, region)[0]

    def detect_with_weak(
        self, rgb: np.ndarray, region: RotatedRect | None = None, weak_floor: float | None = None
    ) -> tuple[list[SSDDetection], list[SSDDetection]]:
        """Detections scoring at least `min_score`, and (same model run, merged apart so that the first list is
        exactly `detect`'s) those scoring in [weak_floor, min_score); the second is empty without a floor."""
        H, W = rgb.shape[:2]
        region = region or RotatedRect.around(0, 0, W, H)
        size = self.model.input_size[0]
        if self._anchors is None:
            self._anchors = ssd_anchors(size, self.strides)
        lo, hi = self.value_range
        x = crop(rgb, region, size).astype(np.float32) * ((hi - lo) / 255.0) + lo
        raw, logits = self.model.run(x)
        scores = 1.0 / (1.0 + np.exp(-np.clip(logits[:, 0].astype(np.float64), -60, 60)))
        centres = region.to_image(raw[:, :2].astype(np.float64) + self._anchors * size, size, size)
        self.last_anchor_scores = (centres, scores)

        def decoded(keep: np.ndarray) -> list[SSDDetection]:
            dets = []
            for k in keep:
                a = self._anchors[k] * size
                cx, cy, w, h = raw[k, 0] + a[0], raw[k, 1] + a[1], raw[k, 2], raw[k, 3]
                box_c = np.array([[cx - w / 2, cy - h / 2], [cx + w / 2, cy + h / 2]])
                kps = raw[k, 4 : 4 + 2 * self.num_keypoints].reshape(-1, 2) + a
                box = region.to_image(box_c, size, size)  # axis-aligned region: corners stay corners
                dets.append(SSDDetection(box.ravel(), region.to_image(kps, size, size), float(scores[k])))
            return weighted_nms(dets, self.nms_iou)

        strong = decoded(np.nonzero(scores >= self.min_score)[0])
        if weak_floor is None or weak_floor >= self.min_score:
            return strong, []
        return strong, decoded(np.nonzero((scores >= weak_floor) & (scores < self.min_score))[0])


def palm_detector(min_score: float = 0.5) -> SSDDetector:
    """Palm detector (keypoints: wrist centre, index MCP, middle MCP, ring MCP, pinky MCP, thumb CMC, thumb MCP)."""
    return SSDDetector("palm_detection", (8, 16, 16, 16), 7, (0.0, 1.0), min_score)


def pose_detector(min_score: float = 0.5) -> SSDDetector:
    """Person detector (keypoints: hip centre, full-body size/rotation point, shoulder centre, upper-body point)."""
    return SSDDetector("pose_detection", (8, 16, 32, 32, 32), 4, (-1.0, 1.0), min_score)
