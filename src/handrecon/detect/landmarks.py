"""The bundled hand- and pose-landmark models run on a rotated crop, results in image pixels.

Hand: 21 landmarks (OpenPose-21 order, with relative depth), the hand-presence probability and the
handedness probability, and metric world landmarks. The model's handedness assumes a mirrored selfie
(as MediaPipe's legacy API does): photos are not mirrored, so the label is swapped unless `mirrored`.
Pose: 33 body landmarks (MediaPipe BlazePose order) with visibility and presence probabilities.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from handrecon.detect.crops import RotatedRect, angle_up, crop
from handrecon.detect.litert import TFLiteModel


def _sigmoid(x: np.ndarray | float) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -60, 60)))


@dataclass
class HandLandmarks:
    keypoints: np.ndarray  # (21, 2) image pixels
    relative_depth: np.ndarray  # (21,) pixels, relative to the wrist (larger = farther)
    world: np.ndarray  # (21, 3) metres
    presence: float  # probability that the crop holds a hand
    right: float  # probability that it is a right hand (as seen in an unmirrored photo)
    rect: RotatedRect  # the crop it was read from

    @property
    def size_px(self) -> float:
        return float(max(np.ptp(self.keypoints, 0).max(), 1.0))


# landmarks that stay on the palm and the finger bases: MediaPipe's choice for the crop that follows a hand
_ROI_JOINTS = [0, 1, 2, 3, 5, 6, 9, 10, 13, 14, 17, 18]


def rect_from_hand_landmarks(kp: np.ndarray, scale: float = 2.0, shift_up: float = 0.1) -> RotatedRect:
    """The crop MediaPipe re-centres on a hand from its landmarks: turned so that the wrist -> middle-finger
    base direction points up, the box of the palm and finger bases, scaled by 2 and moved up by 10 %."""
    kp = np.asarray(kp, dtype=np.float64)
    knuckles = ((kp[5] + kp[13]) / 2 + kp[9]) / 2
    angle = angle_up(kp[0], knuckles)
    c, s = math.cos(angle), math.sin(angle)
    pts = kp[_ROI_JOINTS]
    centre0 = pts.mean(0)
    # coordinates in the rect frame (x right, y down of the upright crop)
    local = (pts - centre0) @ np.array([[c, -s], [s, c]])
    lo, hi = local.min(0), local.max(0)
    mid = (lo + hi) / 2
    centre = centre0 + np.array([[c, -s], [s, c]]) @ mid
    side = float(max(hi - lo))
    return RotatedRect(float(centre[0]), float(centre[1]), side, side, angle).scaled(scale, shift_up)


class HandLandmarkModel:
    """The hand-landmark model on any crop of the image."""

    def __init__(self, mirrored: bool = False) -> None:
        self.model = TFLiteModel("hand_landmark")
        self.mirrored = mirrored

    def __call__(self, rgb: np.ndarray, rect: RotatedRect, mirror: bool = False) -> HandLandmarks:
        """The landmarks of the hand in `rect`. `mirror`: the model reads the crop flipped left-right (a hand
        of the other side), and the result is flipped back: a second, independent reading of the same hand."""
        size = self.model.input_size[0]
        x = crop(rgb, rect, size).astype(np.float32) / 255.0
        if mirror:
            x = np.ascontiguousarray(x[:, ::-1])
        lm, presence, handed, world = self.model.run(x)
        lm = lm.reshape(21, 3).copy()
        if mirror:
            lm[:, 0] = size - lm[:, 0]
            world = world.reshape(21, 3) * np.array([-1.0, 1.0, 1.0], dtype=world.dtype)
        kp = rect.to_image(lm[:, :2], size, size)
        depth = lm[:, 2] * (rect.size / size)
        p_first = float(_sigmoid(float(handed[0]))) if not 0.0 <= float(handed[0]) <= 1.0 else float(handed[0])
        if mirror:  # the flipped crop shows a hand of the other side
            p_first = 1.0 - p_first
        # the model's score is that of its first label ("Left" of a mirrored selfie, i.e. a right hand)
        right = p_first if not self.mirrored else 1.0 - p_first
        pres = float(presence[0]) if 0.0 <= float(presence[0]) <= 1.0 else float(_sigmoid(float(presence[0])))
        w = world.reshape(21, 3).astype(np.float64)
        # the world landmarks are in the crop's axes: turn them back into the camera's
        c, s = math.cos(rect.angle), math.sin(rect.angle)
        w[:, :2] = w[:, :2] @ np.array([[c, -s], [s, c]]).T
        return HandLandmarks(kp, depth - depth[0], w, pres, right, rect)


@dataclass
class PoseLandmarks:
    keypoints: np.ndarray  # (33, 2) image pixels
    visibility: np.ndarray  # (33,) probability that the landmark is visible
    presence: np.ndarray  # (33,) probability that the landmark lies inside the image
    score: float  # probability that the crop holds a person


class PoseLandmarkModel:
    """The full pose-landmark model on a person's crop."""

    def __init__(self) -> None:
        self.model = TFLiteModel("pose_landmark")

    def __call__(self, rgb: np.ndarray, rect: RotatedRect) -> PoseLandmarks:
        size = self.model.input_size[0]
        x = crop(rgb, rect, size).astype(np.float32) / 255.0
        out = self.model.run(x)
        lm = out[0].reshape(39, 5)[:33]
        flag = float(out[1][0])
        score = flag if 0.0 <= flag <= 1.0 else float(_sigmoid(flag))
        kp = rect.to_image(lm[:, :2], size, size)
        return PoseLandmarks(kp, _sigmoid(lm[:, 3]), _sigmoid(lm[:, 4]), score)
