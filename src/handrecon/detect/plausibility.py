"""Cheap anatomical checks of a verified hand against the bodies in the photo.

A 'hand' read on a face (a nose, an ear, a chin) is much smaller than that face. Anthropometry of adults
(ANSUR, Gordon et al. 1989): hand breadth about 8-9 cm, hand length 18-19 cm, head breadth (between the
ears) about 14-15.5 cm; so even a fist seen end-on spans more than half the ear-to-ear distance. A hand
centred on a face (within half the ear-to-ear distance of the nose) with its landmarks spanning less than
half that distance is dropped as a face feature.
"""

from __future__ import annotations

import numpy as np

from handrecon.detect.landmarks import HandLandmarks, PoseLandmarks

NOSE, LEFT_EAR, RIGHT_EAR = 0, 7, 8
MIN_HAND_TO_HEAD_BREADTH = 0.5  # hand breadth / head breadth, adults (see module notes)


def face_feature(hand: HandLandmarks, poses: list[PoseLandmarks], min_visibility: float = 0.5) -> bool:
    """True when the hand lies on a person's face and is too small to be a hand there."""
    centre = hand.keypoints.mean(0)
    for p in poses:
        if min(p.visibility[NOSE], p.visibility[LEFT_EAR], p.visibility[RIGHT_EAR]) < min_visibility:
            continue
        head = float(np.linalg.norm(p.keypoints[LEFT_EAR] - p.keypoints[RIGHT_EAR]))
        on_face = np.linalg.norm(centre - p.keypoints[NOSE]) < 0.5 * head
        if on_face and hand.size_px < MIN_HAND_TO_HEAD_BREADTH * head:
            return True
    return False
