"""Reader of ARCTIC's official release, egocentric protocol (p2) by default, as its toolkit reads it
(zc-alexfan/arctic: `src/datasets/arctic_dataset.py`, `src/arctic/split.py`, `docs/data/data_doc.md`):

    ROOT = arctic_data/data
    ROOT/splits/{setup}_{split}.npy          the toolkit's split files: {"data_dict": {"s01/box_grab_01":
                                             processed sequence}, "imgnames": [".../images/s01/box_grab_01/
                                             <view>/<frame>.jpg", ...]}
    ROOT/processed_seqs/<sid>/<seq>.npy      a processed sequence (used with splits_json when the split
    ROOT/splits_json/protocol_{setup}.json   file is absent: frames 10 .. n-10 of each sequence, the
                                             setup's views, as the toolkit's `glob_fnames`)
    ROOT/meta/misc.json                      per subject: ioi_offset, intris_mat (8 allocentric K),
                                             world2cam (8 allocentric 4x4), image_size
    ROOT/images/<sid>/<seq>/<view>/<frame %05d>.jpg   view 0 = egocentric, 1-8 = allocentric

A processed sequence holds `cam_coord` (joints.right / joints.left (frames, 10 views, 21, 3) metres in each
camera, right_valid / left_valid (frames, views)), `2d`, `bbox` and `params` (MANO rot_r, pose_r, trans_r,
shape_r, ... in the world frame; world2ego (frames, 4, 4) and K_ego (frames, 3, 3): the egocentric
camera moves with the head, so its pose and intrinsics are per frame). The label index of an image is its
frame number minus the subject's ioi_offset. Joints follow MANO's order with smplx's fingertips (thumb,
index, middle, ring, pinky), reordered here to OpenPose. Egocentric labels are those of the toolkit's
undistorted view 0 (the toolkit trains and evaluates in that space; `extras["dist8"]` holds the lens
distortion for whoever renders onto the distorted images). MANO: smplx layer with `flat_hand_mean=False`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from handrecon.data.mano_labels import RawMANO
from handrecon.data.release import (
    ReleaseDataset,
    keypoints_with_confidence,
    project,
    read_json,
    read_npy_dict,
    read_rgb,
    shift_K,
)
from handrecon.hand.keypoints import MANO21_TO_OPENPOSE
from handrecon.io.errors import InputError

SETUP_VIEWS = {"p1": list(range(1, 9)), "p1a": list(range(1, 9)), "p2": [0], "p2a": [0]}
SIDE_KEYS = {"right": "r", "left": "l"}


def find_data_root(root: Path) -> Path:
    """ARCTIC's ROOT (arctic_data/data) given it or a folder above it."""
    for c in (root, root / "data", root / "arctic_data" / "data", root / "data" / "arctic_data" / "data"):
        if (c / "meta" / "misc.json").is_file():
            return c
    raise InputError(root, "not an ARCTIC release (no meta/misc.json in it or in arctic_data/data below it)")


@dataclass
class _Record:
    seq: str  # "s01/box_grab_01"
    view: int
    frame: int  # image number

    @property
    def sid(self) -> str:
        return self.seq.split("/")[0]


class ARCTICDataset(ReleaseDataset):
    name: ClassVar[str] = "arctic"
    splits: ClassVar[tuple[str, ...]] = ("train", "val", "test")
    split_labels: ClassVar[dict[str, list[str]]] = {
        s: ["rgb", "K (per frame, egocentric)", "side", "keypoints_2d", "joints_3d", "mano (world frame)"]
        for s in ("train", "val", "test")
    }

    def __init__(self, root: str | os.PathLike, split: str = "train", mano_dir=None, setup: str = "p2") -> None:
        super().__init__(root, split, mano_dir)
        if setup not in SETUP_VIEWS:
            raise InputError(self.root, f"unknown ARCTIC setup {setup!r}; expected one of {list(SETUP_VIEWS)}")
        self.setup = setup
        self.data_root = find_data_root(self.root)
        self.misc = read_json(self.data_root / "meta" / "misc.json")
        split_file = self.data_root / "splits" / f"{setup}_{split}.npy"
        if split_file.is_file():
            data = read_npy_dict(split_file)
            self.seqs: dict[str, dict] = data["data_dict"]
            names = list(data["imgnames"])
        else:
            protocol = read_json(self.data_root / "splits_json" / f"protocol_{setup}.json")
            self.seqs = {}
            names = []
            for seq in protocol.get(split, []):
                path = self.data_root / "processed_seqs" / f"{seq}.npy"
                if not path.is_file():
                    continue  # a partial copy (ARCTIC's test labels are not public)
                self.seqs[seq] = read_npy_dict(path)
                n = len(self.seqs[seq]["params"]["rot_r"])
                names += [f"images/{seq}/{v}/{f:05d}.jpg" for f in range(10, n - 10) for v in SETUP_VIEWS[setup]]
        for name in names:
            sid, seq_name, view, image = str(name).replace("\\", "/").split("/")[-4:]
            self.records.append(_Record(f"{sid}/{seq_name}", int(view), int(image.split(".")[0])))

    def image_path(self, rec: _Record) -> Path:
        return self.data_root / "images" / rec.seq / str(rec.view) / f"{rec.frame:05d}.jpg"

    def label_index(self, rec: _Record) -> int:
        return rec.frame - int(self.misc[rec.sid]["ioi_offset"])

    def camera(self, rec: _Record, vidx: int) -> tuple[np.ndarray, np.ndarray]:
        """K (continuous pixels) and the world-to-camera 4x4 of a record's view at label index vidx."""
        params = self.seqs[rec.seq]["params"]
        if rec.view == 0:
            return shift_K(np.asarray(params["K_ego"])[vidx]), np.asarray(params["world2ego"], dtype=np.float64)[vidx]
        misc = self.misc[rec.sid]
        K = np.asarray(misc["intris_mat"][rec.view - 1], dtype=np.float64)
        return shift_K(K), np.asarray(misc["world2cam"][rec.view - 1], dtype=np.float64)

    def raw_mano(self, rec: _Record, vidx: int, side: str, world2cam: np.ndarray) -> RawMANO:
        p, s = self.seqs[rec.seq]["params"], SIDE_KEYS[side]
        return RawMANO(
            side=side,
            global_orient=np.asarray(p[f"rot_{s}"])[vidx],
            hand_pose=np.asarray(p[f"pose_{s}"])[vidx],
            betas=np.asarray(p[f"shape_{s}"])[vidx],
            transl=np.asarray(p[f"trans_{s}"])[vidx],
            pose_space="relative",
            frame="world",
            R=world2cam[:3, :3],
            t=world2cam[:3, 3],
        )

    def load(self, rec: _Record):
        from handrecon.data.sample import HandLabel, Sample

        seq = self.seqs[rec.seq]
        vidx = self.label_index(rec)
        n = len(seq["params"]["rot_r"])
        if not 0 <= vidx < n:
            raise InputError(self.image_path(rec), f"label index {vidx} outside the sequence's {n} frames")
        K, world2cam = self.camera(rec, vidx)
        cam = seq["cam_coord"]
        hands, raws = [], []
        for side in ("right", "left"):
            valid_key = f"{side}_valid"
            if valid_key in cam and not np.asarray(cam[valid_key])[vidx, rec.view]:
                continue
            mano21 = np.asarray(cam[f"joints.{side}"], dtype=np.float64)[vidx, rec.view]
            xyz = mano21[list(MANO21_TO_OPENPOSE)]
            raw = self.raw_mano(rec, vidx, side, world2cam)
            hands.append(
                HandLabel(
                    side=side,
                    keypoints_2d=keypoints_with_confidence(project(xyz, K), np.ones(21, bool)),
                    joints_3d=xyz,
                    **self.mano_fields(raw),
                )
            )
            raws.append(raw.as_dict())
        extras = {
            "seq": rec.seq,
            "view": rec.view,
            "frame": rec.frame,
            "mano_raw": raws,
            "path": str(self.image_path(rec)),
        }
        if rec.view == 0 and "dist" in seq["params"]:
            extras["dist8"] = (
                np.asarray(seq["params"]["dist"])[vidx]
                if np.ndim(seq["params"]["dist"]) == 2
                else np.asarray(seq["params"]["dist"])
            )
        sid = f"{rec.seq}/{rec.view}/{rec.frame:05d}"
        return Sample(
            image=read_rgb(self.image_path(rec)), K=K, hands=hands, source=self.name, sample_id=sid, extras=extras
        )


def open_arctic(root, split: str = "train", **options) -> ARCTICDataset:
    """`open_dataset("arctic", root, split)`: split "train", "val" or "test"; options `setup` ("p2" egocentric,
    "p1" allocentric), `mano_dir`, `openhand_labels`."""
    from handrecon.data.release import open_release

    return open_release(ARCTICDataset, root, split, **options)
