"""Hand regions predicted from the body: every person the pose detector finds, their 33 landmarks, and a
hand crop at each wrist, labelled with the body's side.

The pose model names its landmarks by the person's own side (15/16 wrists, 17/18 pinky, 19/20 index), so a
region grown from the left wrist holds the person's left hand, whichever way they face.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from handrecon.detect.crops import RotatedRect, angle_up
from handrecon.detect.landmarks import PoseLandmarkModel, PoseLandmarks
from handrecon.detect.ssd import SSDDetection, pose_detector

# person's side -> (wrist, pinky, index, elbow) in BlazePose's 33 landmarks
BODY_HAND_JOINTS: dict[str, tuple[int, int, int, int]] = {"left": (15, 17, 19, 13), "right": (16, 18, 20, 14)}


@dataclass
class BodyHand:
    """A hand region at a body's wrist."""

    side: str  # the person's own side
    rect: RotatedRect
    wrist: np.ndarray  # (2,) pixels
    visibility: float  # the pose model's probability that the wrist is visible
    person: int  # index of the person in the image
    elbow: np.ndarray | None = None  # (2,) pixels
    # the pose model's own hand points (pinky and index knuckles), (2, 2) pixels, and the lower visibility of
    # its pinky and index points: what the body says of the hand's finger order (`handrecon.detect.finger_order`)
    knuckles: np.ndarray | None = None
    knuckle_visibility: float = 0.0


# Hand length over forearm length (elbow to wrist): 0.108 / 0.146 of stature (Drillis & Contini 1966).
HAND_TO_FOREARM = 0.108 / 0.146


def forearm_rect(wrist: np.ndarray, elbow: np.ndarray) -> RotatedRect | None:
    """The crop the landmark model would settle on for a straight hand continuing the forearm: turned along
    the elbow -> wrist direction, a hand length L = HAND_TO_FOREARM x forearm. MediaPipe's crop from landmarks
    (`rect_from_hand_landmarks`) is twice the box of the palm and finger bases, moved up by 10 % of its side;
    on the hand model's mean hand that box spans 0.72 L along the hand and is centred 0.36 L from the wrist,
    so the crop is 1.43 L wide, centred 0.5 L beyond the wrist. It does not rely on the pose model's finger
    points, which drift when the hand is hidden or held together with the other hand."""
    fore = np.asarray(wrist, dtype=np.float64) - np.asarray(elbow, dtype=np.float64)
    length = float(np.linalg.norm(fore))
    if length < 4:
        return None
    hand = HAND_TO_FOREARM * length
    side = 2 * 0.72 * hand
    c = np.asarray(wrist, dtype=np.float64) + (0.36 * hand + 0.1 * side) * fore / length
    return RotatedRect(float(c[0]), float(c[1]), side, side, angle_up(elbow, wrist))


def person_rect(det: SSDDetection) -> RotatedRect:
    """MediaPipe's body crop: centred on the hip centre, turned so the body points up, 2.5x the radius."""
    c, e = det.keypoints[0], det.keypoints[1]
    size = 2.0 * float(np.linalg.norm(e - c))
    return RotatedRect(float(c[0]), float(c[1]), size, size, angle_up(c, e)).scaled(1.25)


def hand_rect_from_body(wrist: np.ndarray, pinky: np.ndarray, index: np.ndarray) -> RotatedRect:
    """MediaPipe's hand region from pose: the middle-finger direction estimated as (2 index + pinky) / 3,
    a square of twice the wrist-to-middle distance at the wrist, scaled by 2.7 and moved 10 % up."""
    middle = (2 * index + pinky) / 3
    size = 2.0 * float(np.linalg.norm(middle - wrist))
    return RotatedRect(float(wrist[0]), float(wrist[1]), size, size, angle_up(wrist, middle)).scaled(2.7, 0.1)


def hands_from_pose(pose: PoseLandmarks, person: int, min_visibility: float = 0.0) -> list[BodyHand]:
    out = []
    for side, (w, p, i, e) in BODY_HAND_JOINTS.items():
        vis = float(min(pose.visibility[w], pose.presence[w]))
        if vis < min_visibility:
            continue
        kp = pose.keypoints
        rect = hand_rect_from_body(kp[w], kp[p], kp[i])
        if rect.size < 4:
            continue
        knuckles = kp[[p, i]].copy()
        seen = float(min(min(pose.visibility[j], pose.presence[j]) for j in (p, i)))
        out.append(BodyHand(side, rect, kp[w].copy(), vis, person, kp[e].copy(), knuckles, seen))
    return out


class BodyHandProposer:
    """People -> landmarks -> hand regions at their wrists."""

    def __init__(self, min_person_score: float = 0.5, min_pose_score: float = 0.5) -> None:
        self.detector = pose_detector(min_person_score)
        self.landmarks = PoseLandmarkModel()
        self.min_pose_score = min_pose_score

    def people(self, rgb: np.ndarray, regions: list[RotatedRect | None]) -> list[SSDDetection]:
        """Person detections over the given regions (None: the whole image), merged."""
        from handrecon.detect.ssd import weighted_nms

        dets: list[SSDDetection] = []
        for r in regions:
            dets += self.detector.detect(rgb, r)
        return weighted_nms(dets, self.detector.nms_iou) if len(regions) > 1 else dets

    def __call__(
        self, rgb: np.ndarray, regions: list[RotatedRect | None] | None = None
    ) -> tuple[list[BodyHand], list[PoseLandmarks]]:
        poses, hands = [], []
        for det in self.people(rgb, regions or [None]):
            pose = self.landmarks(rgb, person_rect(det))
            if pose.score < self.min_pose_score:
                continue
            hands += hands_from_pose(pose, len(poses))
            poses.append(pose)
        return hands, poses
