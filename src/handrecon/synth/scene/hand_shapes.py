"""Gesture and grasp templates in anatomical angles (degrees), the anchors of the synthetic pose mixture.

Angles follow `handrecon.hand.anatomy` / `handrecon.hand.rom`: bend (flexion +), splay (finger MCPs: radial
deviation +, i.e. towards the thumb; thumb CMC: palmar abduction +), twist. A finger is written
(mcp_bend, mcp_splay, pip_bend, dip_bend), the thumb (cmc_bend, cmc_splay, cmc_twist, mcp_bend, ip_bend);
thumb CMC bend is negative for radial abduction (thumb away from the index in the palm plane).

Grasps are parameterised by the object size (the smaller the object, the more the fingers close), in the
spirit of the grasp taxonomies (cylindrical / spherical power grasps, tip / tripod / lateral pinches).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from handrecon.hand.keypoints import MANO16_FINGER_JOINTS

FINGERS4: tuple[str, ...] = ("index", "middle", "ring", "pinky")
Finger = tuple[float, float, float, float]
Thumb = tuple[float, float, float, float, float]

# Natural spread of the fingers in an open hand (MCP splay, degrees).
SPREAD = {"index": 10.0, "middle": 2.0, "ring": -7.0, "pinky": -16.0}
# A curled finger as far as the bundled model allows before its fingertips and neighbours collide (the
# non-penetration prior rejects deeper curls); fingers fan out slightly in flexion (`_curled`).
CURLED: Finger = (65.0, 0.0, 72.0, 68.0)
STRAIGHT: Finger = (0.0, 0.0, 2.0, 2.0)
RELAXED: Finger = (25.0, 0.0, 35.0, 20.0)
THUMB_FOLDED: Thumb = (5.0, 50.0, 8.0, 20.0, 45.0)  # across the curled fingers, as in a fist
THUMB_OPEN: Thumb = (-45.0, 15.0, 0.0, 5.0, 5.0)
THUMB_RELAXED: Thumb = (-28.0, 35.0, 3.0, 15.0, 15.0)


@dataclass(frozen=True)
class HandShape:
    """One hand configuration: four fingers and the thumb."""

    fingers: dict[str, Finger]
    thumb: Thumb

    def angles_deg(self) -> np.ndarray:
        """(15, 3) bend / splay / twist in degrees, MANO hand_pose joint order."""
        out = np.zeros((15, 3))
        for name, (mcp, splay, pip, dip) in self.fingers.items():
            j = [i - 1 for i in MANO16_FINGER_JOINTS[name]]
            out[j[0], :2] = (mcp, splay)
            out[j[1], 0] = pip
            out[j[2], 0] = dip
        cmc, abd, tw, mcp, ip = self.thumb
        j = [i - 1 for i in MANO16_FINGER_JOINTS["thumb"]]
        out[j[0]] = (cmc, abd, tw)
        out[j[1], 0] = mcp
        out[j[2], 0] = ip
        return out


def _spread(finger: str, f: Finger, amount: float = 1.0) -> Finger:
    return (f[0], f[1] + amount * SPREAD[finger], f[2], f[3])


def _curled(finger: str, f: Finger = CURLED) -> Finger:
    return _spread(finger, f, 0.35)


def _hand(up: tuple[str, ...] = (), thumb: Thumb = THUMB_FOLDED, spread: float = 1.0) -> HandShape:
    """Fingers in `up` extended (with `spread`), the others curled."""
    fingers = {n: _spread(n, STRAIGHT, spread) if n in up else _curled(n) for n in FINGERS4}
    return HandShape(fingers, thumb)


def _lerp(a: tuple[float, ...], b: tuple[float, ...], t: float) -> tuple[float, ...]:
    return tuple(x + (y - x) * t for x, y in zip(a, b, strict=True))


# Gestures: fixed templates (perturbed by the sampler).
GESTURES: dict[str, HandShape] = {
    "open": _hand(FINGERS4, THUMB_OPEN, spread=1.2),
    "flat": _hand(FINGERS4, (-15.0, 5.0, 0.0, 5.0, 5.0), spread=0.1),
    "relaxed": HandShape({n: _spread(n, RELAXED, 0.5) for n in FINGERS4}, THUMB_RELAXED),
    "fist": _hand((), THUMB_FOLDED),
    "point": _hand(("index",), THUMB_FOLDED, spread=0.3),
    "peace": _hand(("index", "middle"), THUMB_FOLDED, spread=1.6),
    "three": _hand(("index", "middle", "ring"), THUMB_FOLDED, spread=1.2),
    "four": _hand(FINGERS4, (10.0, 40.0, 8.0, 40.0, 30.0), spread=1.0),
    "thumbs_up": _hand((), (-5.0, 20.0, 0.0, 0.0, -5.0)),
    "l_shape": _hand(("index",), THUMB_OPEN, spread=0.3),
    "horns": _hand(("index", "pinky"), THUMB_FOLDED, spread=1.3),
    "call": _hand(("pinky",), THUMB_OPEN, spread=1.5),
    "ok": HandShape(
        {
            "index": (45.0, 2.0, 60.0, 35.0),
            "middle": _spread("middle", (8.0, 0.0, 10.0, 5.0), 1.2),
            "ring": _spread("ring", (12.0, 0.0, 12.0, 8.0), 1.2),
            "pinky": _spread("pinky", (15.0, 0.0, 15.0, 10.0), 1.2),
        },
        (-5.0, 50.0, 6.0, 20.0, 25.0),
    ),
    "claw": HandShape({n: _spread(n, (0.0, 0.0, 80.0, 60.0), 1.0) for n in FINGERS4}, (-30.0, 45.0, 5.0, 30.0, 45.0)),
    "hook": HandShape({n: (0.0, 0.0, 95.0, 70.0) for n in FINGERS4}, THUMB_RELAXED),
    "duck": HandShape({n: (55.0, 0.0, 5.0, 5.0) for n in FINGERS4}, (-5.0, 50.0, 5.0, 10.0, 5.0)),
}


def cylindrical_grasp(size: float) -> HandShape:
    """Power grasp around a cylinder; size in [0, 1] from thin (a broom handle) to wide (a large bottle)."""
    t = 1.0 - size
    f = _lerp((35.0, 0.0, 45.0, 25.0), (62.0, 0.0, 72.0, 62.0), t)
    thumb = _lerp((-10.0, 55.0, 6.0, 15.0, 10.0), (0.0, 50.0, 8.0, 22.0, 35.0), t)
    return HandShape({n: _curled(n, f) for n in FINGERS4}, thumb)  # type: ignore[arg-type]


def spherical_grasp(size: float) -> HandShape:
    """Spread-finger grasp of a ball; size in [0, 1] from a golf ball to a large ball."""
    t = 1.0 - size
    fingers = {
        n: _spread(n, _lerp((20.0, 0.0, 20.0, 15.0), (50.0, 0.0, 70.0, 45.0), t), 1.3 - 0.5 * t) for n in FINGERS4
    }
    return HandShape(fingers, _lerp((-20.0, 55.0, 6.0, 10.0, 10.0), (-5.0, 55.0, 8.0, 25.0, 25.0), t))


def tip_pinch(size: float) -> HandShape:
    """Thumb and index tips meeting (size: aperture, 0 closed); the other fingers curled or loosely open."""
    fingers = {n: _spread(n, (20.0, 0.0, 25.0, 15.0), 0.8) for n in ("middle", "ring", "pinky")}
    fingers["index"] = _lerp((48.0, 0.0, 55.0, 25.0), (30.0, 0.0, 30.0, 10.0), size)  # type: ignore[assignment]
    return HandShape(fingers, _lerp((-8.0, 50.0, 6.0, 18.0, 25.0), (-25.0, 45.0, 4.0, 10.0, 10.0), size))


def tripod_pinch(size: float) -> HandShape:
    """Thumb, index and middle tips together (holding a pen or a small object)."""
    fingers = {
        "index": _lerp((45.0, 2.0, 50.0, 20.0), (30.0, 2.0, 30.0, 10.0), size),
        "middle": _lerp((50.0, -2.0, 55.0, 25.0), (35.0, -2.0, 35.0, 15.0), size),
        "ring": (60.0, -4.0, 75.0, 45.0),
        "pinky": (65.0, -8.0, 80.0, 50.0),
    }
    return HandShape(fingers, _lerp((-5.0, 55.0, 8.0, 20.0, 25.0), (-20.0, 50.0, 5.0, 10.0, 10.0), size))  # type: ignore[arg-type]


def lateral_pinch(size: float) -> HandShape:
    """Key grip: thumb pad pressing on the side of the curled index."""
    f = _lerp((58.0, 0.0, 68.0, 45.0), (45.0, 0.0, 55.0, 30.0), size)
    thumb = _lerp((-8.0, 18.0, 5.0, 12.0, 8.0), (-18.0, 20.0, 4.0, 8.0, 5.0), size)
    return HandShape({n: _curled(n, f) for n in FINGERS4}, thumb)  # type: ignore[arg-type]


GRASPS: dict[str, Callable[[float], HandShape]] = {
    "cylindrical": cylindrical_grasp,
    "spherical": spherical_grasp,
    "tip_pinch": tip_pinch,
    "tripod": tripod_pinch,
    "lateral_pinch": lateral_pinch,
}

# Every pose category label a sample can carry (index = integer label stored with the data).
POSE_CATEGORIES: tuple[str, ...] = ("free", *GESTURES, *GRASPS)
