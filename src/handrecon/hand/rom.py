"""Ranges of motion of the 15 finger joints, from the hand-biomechanics literature.

Angles are the anatomical Euler angles of `handrecon.hand.anatomy` in degrees: bend (flexion +,
extension / hyperextension -), splay (finger MCPs: radial deviation +; thumb CMC: palmar abduction +),
twist (axial rotation). Zero is the anatomical neutral: the distal bone continuing its proximal bone
(for finger MCPs the proximal bone is the wrist-to-MCP line standing for the metacarpal; for the thumb
CMC, the index metacarpal line: thumb alongside the index, in the plane of the palm). Degrees of freedom
a joint does not have get a zero-width range, as in sec. 3.2 of the knowledge-prior paper.

Sources (keys used in `SOURCES` of each entry):
- ASSH: American Society for Surgery of the Hand, "The Hand: Examination and Diagnosis", 3rd ed.,
  Churchill Livingstone, 1990 — typical active ranges: finger MCP hyperextension 0-45 / flexion 90,
  PIP 0 / 100, DIP 0 / 80; thumb MCP hyperextension 10 / flexion 55, thumb IP hyperextension 15 /
  flexion 80; thumb basal joint radial abduction 60, palmar abduction 45.
- AAOS: American Academy of Orthopaedic Surgeons, "Joint Motion: Method of Measuring and Recording",
  1965 (reprinted in Greene & Heckman, "The Clinical Measurement of Joint Motion", AAOS, 1994) —
  finger MCP abduction 20; thumb CMC flexion 15, CMC (palmar) abduction 70.
- Cooney81: Cooney, Lucca, Chao, Linscheid, "The kinesiology of the thumb trapeziometacarpal joint",
  J. Bone Joint Surg. Am. 63(9):1371-1381, 1981 — axial rotation arc of the CMC about 17 degrees.
- Norkin16: Norkin & White, "Measurement of Joint Motion: A Guide to Goniometry", 5th ed., F.A. Davis,
  2016 — interphalangeal joints are uniaxial hinges (flexion-extension only); finger MCPs are biaxial
  (flexion-extension, abduction-adduction; no active axial rotation); at the thumb MCP only
  flexion-extension is measured.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from handrecon.hand.keypoints import MANO16_FINGER_JOINTS

ANGLE_NAMES = ("bend", "splay", "twist")


@dataclass(frozen=True)
class JointRange:
    """[min, max] in degrees per anatomical angle, with the source of each bound."""

    bend: tuple[float, float]
    splay: tuple[float, float]
    twist: tuple[float, float]
    sources: tuple[str, str, str]


# Joint kinds of the 15 articulated joints.
FINGER_MCP = JointRange(
    bend=(-45.0, 90.0),  # ASSH: hyperextension 0-45 (upper end), flexion 90
    # AAOS: abduction 20. Adduction past neutral is blocked by the neighbouring finger rather than by the
    # joint; the same 20 degrees are allowed both ways and contact is left to the non-penetration prior.
    splay=(-20.0, 20.0),
    twist=(0.0, 0.0),  # Norkin16: no active axial rotation
    sources=("ASSH", "AAOS", "Norkin16"),
)
FINGER_PIP = JointRange(bend=(0.0, 100.0), splay=(0.0, 0.0), twist=(0.0, 0.0), sources=("ASSH", "Norkin16", "Norkin16"))
FINGER_DIP = JointRange(bend=(0.0, 80.0), splay=(0.0, 0.0), twist=(0.0, 0.0), sources=("ASSH", "Norkin16", "Norkin16"))
THUMB_CMC = JointRange(
    bend=(-60.0, 15.0),  # ASSH radial abduction (extension) 60; AAOS flexion 15
    splay=(0.0, 70.0),  # ASSH palmar adduction to contact (0); AAOS palmar abduction 70
    twist=(-8.5, 8.5),  # Cooney81: axial rotation arc 17, centred on neutral
    sources=("ASSH/AAOS", "ASSH/AAOS", "Cooney81"),
)
THUMB_MCP = JointRange(bend=(-10.0, 55.0), splay=(0.0, 0.0), twist=(0.0, 0.0), sources=("ASSH", "Norkin16", "Norkin16"))
THUMB_IP = JointRange(bend=(-15.0, 80.0), splay=(0.0, 0.0), twist=(0.0, 0.0), sources=("ASSH", "Norkin16", "Norkin16"))

FINGER_KINDS = (FINGER_MCP, FINGER_PIP, FINGER_DIP)
THUMB_KINDS = (THUMB_CMC, THUMB_MCP, THUMB_IP)

# Kind name of each of the 15 articulated joints (MANO hand_pose order: index, middle, pinky, ring, thumb).
JOINT_KINDS: tuple[str, ...] = tuple(
    ("cmc", "thumb_mcp", "ip")[k] if f == "thumb" else ("mcp", "pip", "dip")[k]
    for f in ("index", "middle", "pinky", "ring", "thumb")
    for k in range(3)
)
MCP_JOINTS = tuple(i for i, k in enumerate(JOINT_KINDS) if k == "mcp")  # hand_pose indices of finger MCPs
PIP_JOINTS = tuple(i for i, k in enumerate(JOINT_KINDS) if k == "pip")
DIP_JOINTS = tuple(i for i, k in enumerate(JOINT_KINDS) if k == "dip")


def joint_range_table() -> list[JointRange]:
    """JointRange of each of the 15 articulated joints in MANO hand_pose order."""
    table: list[JointRange] = []
    for finger in ("index", "middle", "pinky", "ring", "thumb"):
        kinds = THUMB_KINDS if finger == "thumb" else FINGER_KINDS
        assert len(MANO16_FINGER_JOINTS[finger]) == 3
        table.extend(kinds)
    return table


def range_of_motion(
    dtype: torch.dtype = torch.float32, device=None, table: list[JointRange] | None = None
) -> torch.Tensor:
    """(15, 3, 2) [min, max] in radians for (bend, splay, twist) of each joint, MANO hand_pose order."""
    table = table or joint_range_table()
    deg = [[list(r.bend), list(r.splay), list(r.twist)] for r in table]
    return torch.tensor(deg, dtype=dtype, device=device) * (math.pi / 180.0)
