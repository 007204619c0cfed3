"""Mirroring between right and left hands (reflection x -> -x in the model / camera frame).

A left hand is the mirror image of a right hand, so a right-hand pose maps to the left-hand pose that
produces the mirrored mesh: rotations R -> M R M with M = diag(-1, 1, 1), i.e. axis-angle
(x, y, z) -> (x, -y, -z), and translations (x, y, z) -> (-x, y, z).
"""

from __future__ import annotations

import torch

_AA_SIGN = (1.0, -1.0, -1.0)
_PT_SIGN = (-1.0, 1.0, 1.0)


def mirror_points(x: torch.Tensor) -> torch.Tensor:
    """Reflect points (..., 3) across the x = 0 plane."""
    return x * x.new_tensor(_PT_SIGN)


def mirror_axis_angle(aa: torch.Tensor) -> torch.Tensor:
    """Axis-angle (..., 3) of M R M."""
    return aa * aa.new_tensor(_AA_SIGN)


def mirror_rotation_matrix(R: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) -> M R M."""
    s = R.new_tensor(_PT_SIGN)
    return R * s[:, None] * s[None, :]


def mirror_hand_params(
    global_orient: torch.Tensor | None = None,
    hand_pose: torch.Tensor | None = None,
    transl: torch.Tensor | None = None,
) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]:
    """Mirror axis-angle or rotation-matrix pose parameters and a translation (None passes through)."""

    def rot(x: torch.Tensor | None) -> torch.Tensor | None:
        if x is None:
            return None
        return mirror_rotation_matrix(x) if x.shape[-2:] == (3, 3) else mirror_axis_angle(x)

    return rot(global_orient), rot(hand_pose), None if transl is None else mirror_points(transl)
