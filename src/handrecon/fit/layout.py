"""The layout of one hand's parameter row in the fit, and of its residual row.

The Levenberg-Marquardt solver (`fit.lm`) sees each hand as a flat row x (P,). `ParameterLayout` is the one
place that knows where each quantity sits in it, so that no code slices rows by hand:

    x = [global orient (3, axis-angle) | anatomical angles (15 x 3, radians) | betas (S)
         | translation (3, metres) | log segment-length scales (16)]

`ResidualLayout` names the blocks of the residual row that `fit.refine` assembles (see `fit.energy`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch

# Translations enter the temporal term in decimetres, so that a step in them is comparable in size to a
# step in radians (the other parameters' unit) for the solver's finite differences and damping.
TEMPORAL_TRANSL_UNITS_PER_M = 10.0


class HandRows(NamedTuple):
    """Parameter rows (N, P) cut into their named parts (views, not copies)."""

    global_orient: torch.Tensor  # (N, 3) axis-angle
    angles: torch.Tensor  # (N, 15, 3) anatomical Euler angles, radians
    betas: torch.Tensor  # (N, S)
    transl: torch.Tensor  # (N, 3) metres
    log_scales: torch.Tensor  # (N, 16) log segment-length scales


@dataclass(frozen=True)
class ParameterLayout:
    """Where each quantity sits in a hand's parameter row, for a model with `num_betas` shape coefficients."""

    num_betas: int

    ORIENT = 3
    ANGLES = 45  # 15 joints x 3 anatomical angles
    TRANSL = 3
    SCALES = 16  # one per MANO-16 segment
    FIXED = ORIENT + ANGLES + TRANSL + SCALES  # every block but the betas

    @classmethod
    def of_rows(cls, x: torch.Tensor) -> ParameterLayout:
        """The layout of parameter rows x (N, P), from their width."""
        return cls(x.shape[-1] - cls.FIXED)

    @property
    def size(self) -> int:
        return self.FIXED + self.num_betas

    @property
    def angles(self) -> slice:
        return slice(self.ORIENT, self.ORIENT + self.ANGLES)

    @property
    def betas(self) -> slice:
        return slice(self.angles.stop, self.angles.stop + self.num_betas)

    @property
    def transl(self) -> slice:
        return slice(self.betas.stop, self.betas.stop + self.TRANSL)

    @property
    def log_scales(self) -> slice:
        return slice(self.transl.stop, self.transl.stop + self.SCALES)

    def split(self, x: torch.Tensor) -> HandRows:
        """Rows (N, P) -> their named parts."""
        return HandRows(
            x[:, : self.ORIENT],
            x[:, self.angles].reshape(-1, 15, 3),
            x[:, self.betas],
            x[:, self.transl],
            x[:, self.log_scales],
        )

    def join(
        self,
        global_orient: torch.Tensor,
        angles: torch.Tensor,
        betas: torch.Tensor,
        transl: torch.Tensor,
        log_scales: torch.Tensor,
    ) -> torch.Tensor:
        """The parts of rows (each (N, ...)) -> rows (N, P); the inverse of `split`."""
        n = global_orient.shape[0]
        return torch.cat([global_orient, angles.reshape(n, -1), betas, transl, log_scales], 1)

    def temporal_units(self, x: torch.Tensor) -> torch.Tensor:
        """Rows with the translation in decimetres (`TEMPORAL_TRANSL_UNITS_PER_M`), as the temporal term
        compares them."""
        t = self.transl
        return torch.cat([x[:, : t.start], x[:, t] * TEMPORAL_TRANSL_UNITS_PER_M, x[:, t.stop :]], 1)


@dataclass(frozen=True)
class ResidualLayout:
    """The named blocks of a hand's residual row, in the order `fit.refine` assembles them; optional blocks
    (metric world when `world_metric`, then temporal and penetration) follow them."""

    num_betas: int
    world_metric: bool = False

    def blocks(self) -> dict[str, int]:
        blocks = {
            "keypoints_2d": 42,  # 21 keypoints x 2 pixel coordinates
            "pose": ParameterLayout.ANGLES,
            "world": 63,  # 21 landmarks x 3
            "shape": self.num_betas,
            "bone_scales": ParameterLayout.SCALES,
            "pose_beyond_tolerance": ParameterLayout.ANGLES,
        }
        if self.world_metric:
            blocks["world_metric"] = 63  # 21 joints x 3, metres
        return blocks

    def energies(self, r: torch.Tensor) -> dict[str, float]:
        """0.5 ||block||^2 of each named block of one residual row r (R,), and the total over the row."""
        out, k = {}, 0
        for name, size in self.blocks().items():
            out[name] = float(0.5 * r[k : k + size].square().sum())
            k += size
        out["total"] = float(0.5 * r.square().sum())
        return out
