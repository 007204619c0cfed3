"""MANO parameters as the datasets give them, and their conversion to handrecon's convention.

Each MANO-labelled dataset stores its parameters in its own convention: in a world frame (InterHand2.6M,
ARCTIC), in an OpenGL camera frame (HO3D), as 45 PCA coefficients (DexYCB), with the pose relative to
MANO's mean pose (`flat_hand_mean=False`: FreiHAND, DexYCB, InterHand2.6M, ARCTIC) or absolute
(`flat_hand_mean=True`: HO3D). A reader keeps them exactly as given in a `RawMANO` (the sample's
`extras["mano_raw"]`), and fills the sample's `HandLabel` parameters (OpenCV camera frame of the sample's
K, axis-angle pose relative to MANO's mean, `HandParams`' convention) only when that needs no MANO file,
or when the user gave the folder of MANO_RIGHT.pkl / MANO_LEFT.pkl (`mano_dir`): the mean pose, the pose
components and the rest root joint (about which a frame change rotates the hand) are MANO's own data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch

PoseSpace = Literal["relative", "absolute", "pca"]


@dataclass
class RawMANO:
    """One hand's MANO parameters in the dataset's convention, and the map of its frame to the camera.

    `hand_pose` is (45,) axis-angle relative to MANO's mean pose ("relative"), (45,) absolute axis-angle
    ("absolute", flat_hand_mean=True), or (n,) PCA coefficients of MANO's pose components applied with
    the mean pose added ("pca", flat_hand_mean=False). `R`, `t` (metres) map the parameters' frame to the
    sample's OpenCV camera frame: x_cam = R x + t.
    """

    side: str
    global_orient: np.ndarray  # (3,)
    hand_pose: np.ndarray  # (45,) or (n,) PCA coefficients
    betas: np.ndarray  # (10,)
    transl: np.ndarray  # (3,) metres
    pose_space: PoseSpace = "relative"
    frame: str = "camera"  # what the parameters' frame is, as the dataset names it
    R: np.ndarray = field(default_factory=lambda: np.eye(3))
    t: np.ndarray = field(default_factory=lambda: np.zeros(3))

    def __post_init__(self) -> None:
        self.global_orient = np.asarray(self.global_orient, dtype=np.float64).reshape(3)
        self.hand_pose = np.asarray(self.hand_pose, dtype=np.float64).reshape(-1)
        self.betas = np.asarray(self.betas, dtype=np.float64).reshape(-1)
        self.transl = np.asarray(self.transl, dtype=np.float64).reshape(3)
        self.R = np.asarray(self.R, dtype=np.float64).reshape(3, 3)
        self.t = np.asarray(self.t, dtype=np.float64).reshape(3)

    @property
    def needs_mano(self) -> bool:
        """True when expressing these parameters in handrecon's convention needs MANO's own data."""
        identity = np.allclose(self.R, np.eye(3)) and np.allclose(self.t, 0)
        return self.pose_space != "relative" or not identity

    def as_dict(self) -> dict:
        return {
            "side": self.side,
            "global_orient": self.global_orient,
            "hand_pose": self.hand_pose,
            "betas": self.betas,
            "transl": self.transl,
            "pose_space": self.pose_space,
            "frame": self.frame,
            "R": self.R,
            "t": self.t,
        }


class MANOConverter:
    """Converts `RawMANO` to handrecon's convention; MANO's own data (mean pose, pose components, rest root
    joint) come from the user's MANO files when `mano_dir` is given."""

    def __init__(self, mano_dir: str | Path | None = None) -> None:
        self.mano_dir = None if mano_dir is None else Path(mano_dir).expanduser()
        self._models: dict[str, torch.nn.Module] = {}

    def model(self, side: str):
        if self.mano_dir is None:
            raise ValueError("MANO files are needed for this conversion (pass mano_dir)")
        if side not in self._models:
            from handrecon.hand import HandModel

            self._models[side] = HandModel(side=side, model="mano", mano_dir=self.mano_dir, dtype=torch.float64)
        return self._models[side]

    def can_convert(self, raw: RawMANO) -> bool:
        return not raw.needs_mano or self.mano_dir is not None

    def relative_pose(self, raw: RawMANO) -> np.ndarray:
        """(15, 3) axis-angle pose relative to MANO's mean pose."""
        if raw.pose_space == "relative":
            return raw.hand_pose.reshape(15, 3)
        m = self.model(raw.side)
        if raw.pose_space == "absolute":
            return (raw.hand_pose - m.pose_mean.cpu().numpy().reshape(-1)).reshape(15, 3)
        comps = m.asset.pose_components
        if comps is None:
            raise ValueError(f"the MANO file of the {raw.side} hand has no pose components")
        n = raw.hand_pose.size
        return (raw.hand_pose @ np.asarray(comps, dtype=np.float64)[:n]).reshape(15, 3)

    def convert(self, raw: RawMANO) -> dict[str, np.ndarray]:
        """global_orient (3,), hand_pose (15, 3), betas (10,), transl (3,) in the OpenCV camera frame."""
        pose = self.relative_pose(raw)
        if np.allclose(raw.R, np.eye(3)):
            return {
                "global_orient": raw.global_orient,
                "hand_pose": pose,
                "betas": raw.betas,
                "transl": raw.transl + raw.t,
            }
        from handrecon.data.conventions import change_camera_frame
        from handrecon.hand.params import HandParams

        m = self.model(raw.side)
        betas = torch.as_tensor(raw.betas[None, : m.num_betas], dtype=torch.float64)
        with torch.no_grad():
            rest_root = m(betas=betas, joint_order="mano", skin_mesh=False).joints[:, 0]
        p = HandParams.from_numpy(raw.global_orient, pose, raw.betas, raw.transl)
        q = change_camera_frame(p, raw.R, rest_root)
        go = q.global_orient.detach().cpu().numpy().reshape(3)
        transl = q.transl.detach().cpu().numpy().reshape(3) + raw.t
        return {"global_orient": go, "hand_pose": pose, "betas": raw.betas, "transl": transl}

    def joints(self, raw: RawMANO) -> np.ndarray:
        """(21, 3) OpenPose-order joints of the MANO hand in the camera frame (needs MANO files)."""
        p = self.convert(raw)
        m = self.model(raw.side)
        t = {k: torch.as_tensor(np.asarray(v)[None], dtype=torch.float64) for k, v in p.items()}
        t["betas"] = t["betas"][:, : m.num_betas]
        with torch.no_grad():
            return m(**t, skin_mesh=False).joints[0].cpu().numpy()
