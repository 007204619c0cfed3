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
    """Mirror axis-angle ((B, 3), (B, 15, 3)) or rotation-matrix ((B, 3, 3), (B, 15, 3, 3)) pose parameters
    and a translation (None passes through)."""

    def rot(x: torch.Tensor | None, matrix_dims: int) -> torch.Tensor | None:
        if x is None:
            return None
        # told apart by the number of dimensions: a batch of 3 axis-angle wrists is also 3 x 3
        return mirror_rotation_matrix(x) if x.dim() == matrix_dims else mirror_axis_angle(x)

    return rot(global_orient, 3), rot(hand_pose, 4), None if transl is None else mirror_points(transl)
