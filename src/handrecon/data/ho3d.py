"""Reader of HO-3D's official release (v2 and v3, one layout), as its toolkit reads it
(shreyashampali/ho3d, `utils/vis_utils.py`: `read_RGB_img`, `read_annotation`, `project_3D_points`):

    ROOT/train.txt, ROOT/evaluation.txt        one "SEQ/ID" line per frame
    ROOT/{train,evaluation}/SEQ/rgb/ID.png     (v2) or ID.jpg (v3)
    ROOT/{train,evaluation}/SEQ/meta/ID.pkl    a dict (Python 2 pickle):
        train:      handJoints3D (21, 3) MANO-21 order, handPose (48,), handBeta (10,), handTrans (3,),
                    camMat (3, 3), object fields
        evaluation: handJoints3D (3,) the root joint (wrist) only, handBoundingBox (4,) x0, y0, x1, y1,
                    camMat (3, 3), object fields

3D values are in an OpenGL camera frame (x right, y up, z backward, metres): the toolkit projects them
after multiplying y and z by -1, which is what this reader does to bring them to handrecon's OpenCV frame.
The hand is a right hand. MANO: the toolkit poses MANO with `flat_hand_mean=True` (absolute pose) and
the parameters live in the OpenGL frame, so they are handrecon-convention parameters only with the
user's MANO files; they are always kept as given in `extras["mano_raw"]`. Train frames whose hand is not
annotated (None in the meta file) have no joint labels.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from handrecon.data.conventions import OPENGL_TO_OPENCV
from handrecon.data.mano_labels import RawMANO
from handrecon.data.release import (
    ReleaseDataset,
    keypoints_with_confidence,
    project,
    read_pickle,
    read_rgb,
    shift_K,
)
from handrecon.hand.keypoints import MANO21_TO_OPENPOSE
from handrecon.io.errors import InputError


@dataclass
class _Record:
    seq: str
    fid: str


class HO3DDataset(ReleaseDataset):
    name: ClassVar[str] = "ho3d"
    splits: ClassVar[tuple[str, ...]] = ("train", "evaluation")
    split_labels: ClassVar[dict[str, list[str]]] = {
        "train": ["rgb", "K", "side (right)", "keypoints_2d", "joints_3d", "mano (OpenGL camera, absolute pose)"],
        "evaluation": ["rgb", "K", "side (right)", "joints_3d (root joint only)", "box"],
    }

    def __init__(self, root: str | os.PathLike, split: str = "train", mano_dir=None) -> None:
        super().__init__(root, split, mano_dir)
        listing = self.root / f"{split}.txt"
        if not listing.is_file():
            raise InputError(listing, f"not found: HO-3D lists its {split} frames in {split}.txt")
        for line in listing.read_text().splitlines():
            line = line.strip()
            if not line:
                continue
            seq, _, fid = line.partition("/")
            if not fid:
                raise InputError(listing, f"line {line!r} is not SEQ/ID")
            self.records.append(_Record(seq, fid))

    def image_path(self, rec: _Record) -> Path:
        folder = self.root / self.split / rec.seq / "rgb"
        png = folder / f"{rec.fid}.png"
        return png if png.is_file() else folder / f"{rec.fid}.jpg"

    def meta(self, rec: _Record) -> dict:
        return read_pickle(self.root / self.split / rec.seq / "meta" / f"{rec.fid}.pkl")

    @staticmethod
    def raw_mano(meta: dict) -> RawMANO | None:
        if meta.get("handPose") is None or meta.get("handBeta") is None or meta.get("handTrans") is None:
            return None
        pose = np.asarray(meta["handPose"], dtype=np.float64).reshape(48)
        return RawMANO(
            side="right",
            global_orient=pose[:3],
            hand_pose=pose[3:],
            betas=meta["handBeta"],
            transl=meta["handTrans"],
            pose_space="absolute",
            frame="camera_opengl",
            R=OPENGL_TO_OPENCV,
        )

    def load(self, rec: _Record):
        from handrecon.data.sample import HandLabel, Sample

        meta = self.meta(rec)
        if meta.get("camMat") is None:
            raise InputError(self.root / self.split / rec.seq / "meta" / f"{rec.fid}.pkl", "no camMat")
        K = shift_K(meta["camMat"])
        joints = meta.get("handJoints3D")
        raw = None
        if joints is None:
            hand = HandLabel(side="right")
        elif np.asarray(joints).size == 3:  # evaluation split: the root joint and a box
            xyz = np.zeros((21, 3))
            xyz[0] = np.asarray(joints, dtype=np.float64).reshape(3) @ OPENGL_TO_OPENCV
            valid = np.zeros(21, bool)
            valid[0] = True
            box = meta.get("handBoundingBox")
            hand = HandLabel(
                side="right",
                joints_3d=xyz,
                joints_3d_valid=valid,
                box=None if box is None else np.asarray(box, dtype=np.float64).reshape(4) + 0.5,
            )
        else:
            mano21 = np.asarray(joints, dtype=np.float64).reshape(21, 3) @ OPENGL_TO_OPENCV
            xyz = mano21[list(MANO21_TO_OPENPOSE)]
            raw = self.raw_mano(meta)
            hand = HandLabel(
                side="right",
                keypoints_2d=keypoints_with_confidence(project(xyz, K), np.ones(21, bool)),
                joints_3d=xyz,
                **self.mano_fields(raw),
            )
        extras = {
            "seq": rec.seq,
            "frame": rec.fid,
            "object": meta.get("objName"),
            "mano_raw": [None if raw is None else raw.as_dict()],
            "path": str(self.image_path(rec)),
        }
        image = read_rgb(self.image_path(rec))
        return Sample(image=image, K=K, hands=[hand], source=self.name, sample_id=f"{rec.seq}/{rec.fid}", extras=extras)


def open_ho3d(root, split: str = "train", **options) -> HO3DDataset:
    """`open_dataset("ho3d", root, split)`: split "train" or "evaluation"; options `mano_dir`, `openhand_labels`."""
    from handrecon.data.release import open_release

    return open_release(HO3DDataset, root, split, **options)
