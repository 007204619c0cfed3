"""`HandParams`: the one container of hand-model parameters (a batch of hands, torch tensors).

The fields are exactly the inputs of `HandModel.forward` (and of MANO in smplx's convention):

- `global_orient` (B, 3) axis-angle or (B, 3, 3) rotation matrix of the wrist;
- `hand_pose` (B, 15, 3) axis-angle or (B, 15, 3, 3) local rotations of the 15 joints, MANO-16 order
  without the wrist. As axis-angle it is *relative to the model's `pose_mean`* (MANO's `hands_mean`, zero
  for openhand and for MANO with `flat_hand_mean`): the model adds the mean before posing. As matrices it
  is the full local rotation (the model adds nothing). `to_matrices` / `to_axis_angle` therefore take the
  model's `pose_mean`;
- `betas` (B, S) shape coefficients;
- `transl` (B, 3) metres, camera frame;
- `bone_scales` (B, 16) optional segment length scales (the fitter's per-bone scales).

The fitter works with axis-angle wrist and matrix joints; learning code and JSON outputs with axis-angle;
both are this one type.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np
import torch

from handrecon.geometry.rotations import axis_angle_to_matrix, matrix_to_axis_angle
from handrecon.hand.mirror import mirror_axis_angle, mirror_points, mirror_rotation_matrix

NUM_POSE_JOINTS = 15


def _is_matrix(x: torch.Tensor) -> bool:
    """Rotation matrices: (B, 3, 3) wrist or (B, 15, 3, 3) joints. Told apart from axis-angle by the number
    of dimensions (a batch of 3 axis-angle wrists is also 3 x 3)."""
    return x.dim() in (3, 4) and x.shape[-2:] == (3, 3) and not (x.dim() == 3 and x.shape[1] == 15)


def _mean(pose_mean: torch.Tensor | np.ndarray | None, like: torch.Tensor) -> torch.Tensor:
    if pose_mean is None:
        return like.new_zeros(NUM_POSE_JOINTS, 3)
    return torch.as_tensor(pose_mean).to(like).reshape(NUM_POSE_JOINTS, 3)


@dataclass
class HandParams:
    """Hand-model parameters of a batch of hands (all tensors batched first; see the module docstring)."""

    global_orient: torch.Tensor  # (B, 3) axis-angle or (B, 3, 3)
    hand_pose: torch.Tensor  # (B, 15, 3) axis-angle (relative to pose_mean) or (B, 15, 3, 3)
    betas: torch.Tensor  # (B, S)
    transl: torch.Tensor  # (B, 3)
    bone_scales: torch.Tensor | None = None  # (B, 16) segment length scales (HandModel.forward)

    # -- basic operations ----------------------------------------------------------------------
    @property
    def batch_size(self) -> int:
        return int(self.betas.shape[0])

    def _map(self, fn) -> HandParams:
        return HandParams(**{f.name: None if getattr(self, f.name) is None else fn(getattr(self, f.name))
                             for f in fields(self)})  # fmt: skip

    def detach(self) -> HandParams:
        return self._map(lambda x: x.detach())

    def to(self, *args, **kwargs) -> HandParams:
        """`Tensor.to` on every field (dtype and / or device)."""
        return self._map(lambda x: x.to(*args, **kwargs))

    def __getitem__(self, index) -> HandParams:
        """Select hands along the batch axis (an int keeps the batch axis: B = 1)."""
        if isinstance(index, int):
            index = slice(index, index + 1 if index != -1 else None)
        return self._map(lambda x: x[index])

    @staticmethod
    def cat(items: list[HandParams]) -> HandParams:
        """Concatenate batches (bone scales kept only when every item has them)."""
        if not items:
            raise ValueError("cannot concatenate an empty list of HandParams")
        bs = [p.bone_scales for p in items]
        return HandParams(
            global_orient=torch.cat([p.global_orient for p in items]),
            hand_pose=torch.cat([p.hand_pose for p in items]),
            betas=torch.cat([p.betas for p in items]),
            transl=torch.cat([p.transl for p in items]),
            bone_scales=None if any(b is None for b in bs) else torch.cat(bs),  # type: ignore[arg-type]
        )

    def model_inputs(self) -> dict:
        """Keyword arguments of `HandModel.forward` reproducing these parameters."""
        return {
            "global_orient": self.global_orient,
            "hand_pose": self.hand_pose,
            "betas": self.betas,
            "transl": self.transl,
            "bone_scales": self.bone_scales,
        }

    # -- rotation representations ---------------------------------------------------------------
    def to_axis_angle(self, pose_mean: torch.Tensor | np.ndarray | None = None) -> HandParams:
        """Both rotations as axis-angle; matrix joints become axis-angle relative to `pose_mean`."""
        go, hp = self.global_orient, self.hand_pose
        if _is_matrix(go):
            go = matrix_to_axis_angle(go)
        if _is_matrix(hp):
            hp = matrix_to_axis_angle(hp) - _mean(pose_mean, hp)
        return replace(self, global_orient=go, hand_pose=hp.reshape(hp.shape[0], NUM_POSE_JOINTS, 3))

    def to_matrices(self, pose_mean: torch.Tensor | np.ndarray | None = None, wrist: bool = False) -> HandParams:
        """Joint rotations as matrices (the mean added back); the wrist too when `wrist` (the fitter keeps
        its wrist as axis-angle)."""
        go, hp = self.global_orient, self.hand_pose
        if wrist and not _is_matrix(go):
            go = axis_angle_to_matrix(go)
        if not _is_matrix(hp):
            hp = axis_angle_to_matrix(hp.reshape(hp.shape[0], NUM_POSE_JOINTS, 3) + _mean(pose_mean, hp))
        return replace(self, global_orient=go, hand_pose=hp)

    def mirrored(self) -> HandParams:
        """The parameters of the mirror-image hand (x -> -x in the camera frame): a right hand's parameters
        become the left hand's that give the mirrored mesh (see `handrecon.hand.mirror`). Valid for
        models whose left hand is the mirrored right hand (openhand; MANO's left model is built so) and
        whose `pose_mean` is mirrored the same way."""

        def rot(x: torch.Tensor) -> torch.Tensor:
            return mirror_rotation_matrix(x) if _is_matrix(x) else mirror_axis_angle(x)

        go, hp = rot(self.global_orient), rot(self.hand_pose)
        return replace(self, global_orient=go, hand_pose=hp, transl=mirror_points(self.transl))

    # -- numpy ---------------------------------------------------------------------------------
    @classmethod
    def from_numpy(
        cls,
        global_orient: np.ndarray,
        hand_pose: np.ndarray,
        betas: np.ndarray,
        transl: np.ndarray,
        bone_scales: np.ndarray | None = None,
        dtype: torch.dtype = torch.float64,
    ) -> HandParams:
        """One hand (unbatched arrays) or a batch, as given: a batch axis is added to unbatched input (told
        apart by `betas`: (S,) for one hand, (B, S) for a batch)."""
        batched = np.ndim(betas) == 2

        def t(x):
            x = torch.as_tensor(np.asarray(x), dtype=dtype)
            return x if batched else x[None]

        return cls(t(global_orient), t(hand_pose), t(betas), t(transl), None if bone_scales is None else t(bone_scales))

    def numpy(self, index: int = 0) -> dict[str, np.ndarray | None]:
        """Hand `index` as float64 numpy arrays keyed by field name."""
        out: dict[str, np.ndarray | None] = {}
        for f in fields(self):
            x = getattr(self, f.name)
            out[f.name] = None if x is None else x[index].detach().double().cpu().numpy()
        return out
