"""Reader of InterHand2.6M's official release (v1.0, 5 fps or 30 fps), as its toolkit reads it
(facebookresearch/InterHand2.6M, `data/InterHand2.6M/dataset.py`):

    ROOT/annotations/{split}/InterHand2.6M_{split}_data.json       COCO: images (file_name, capture,
                                                                     camera, frame_idx, width, height),
                                                                     annotations (joint_valid 42, bbox,
                                                                     hand_type, hand_type_valid)
    ROOT/annotations/{split}/InterHand2.6M_{split}_camera.json     {capture: {campos, camrot, focal,
                                                                     princpt: {camera: ...}}}
    ROOT/annotations/{split}/InterHand2.6M_{split}_joint_3d.json   {capture: {frame_idx: {world_coord
                                                                     (42, 3) mm, joint_valid, ...}}}
    ROOT/annotations/{split}/InterHand2.6M_{split}_MANO_NeuralAnnot.json   optional {capture: {frame_idx:
                                                                     {right|left: {pose 48, shape 10,
                                                                     trans 3} | null}}}, world frame
    ROOT/images/{split}/Capture*/<seq>/cam<camera>/image<frame_idx>.jpg

splits: train, val, test. Joints: 42 = right hand 0-20 then left 21-41; within a hand the thumb first,
each finger tip to base, the wrist last (20, 41). Camera: x_cam = camrot (x_world - campos), millimetres.
As in the toolkit, a hand whose root (wrist) is not valid has all its joints marked invalid. MANO
parameters (NeuralAnnot) are fitted in the world frame with smplx's MANO (`flat_hand_mean=False`).
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
    intrinsics,
    keypoints_with_confidence,
    project,
    read_json,
    read_rgb,
    require_dir,
    shift_K,
)
from handrecon.io.errors import InputError

# openpose[i] = hand21[INTERHAND21_TO_OPENPOSE[i]] for one hand of InterHand2.6M's (and AssemblyHands')
# order: thumb tip, IP, MCP, CMC; index tip..MCP; middle; ring; pinky; wrist.
INTERHAND21_TO_OPENPOSE: tuple[int, ...] = (20, 3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12, 19, 18, 17, 16)
HAND_OFFSET = {"right": 0, "left": 21}


def interhand42_to_openpose(x: np.ndarray, side: str) -> np.ndarray:
    """The 21 values of one hand (`side`) of a 42-joint array (wrist last) in OpenPose order."""
    return np.asarray(x)[HAND_OFFSET[side] + np.asarray(INTERHAND21_TO_OPENPOSE)]


@dataclass
class _Record:
    image: Path
    image_id: int
    capture: str
    camera: str
    frame: str
    width: int
    height: int
    joint_valid: np.ndarray  # (42,)
    hand_type: str
    bbox: np.ndarray  # (4,) x, y, w, h


class InterHand26MDataset(ReleaseDataset):
    name: ClassVar[str] = "interhand26m"
    splits: ClassVar[tuple[str, ...]] = ("train", "val", "test")
    split_labels: ClassVar[dict[str, list[str]]] = {
        s: ["rgb", "K", "side", "keypoints_2d", "joints_3d", "mano (world frame, if MANO_NeuralAnnot.json)"]
        for s in ("train", "val", "test")
    }

    def __init__(self, root: str | os.PathLike, split: str = "test", mano_dir=None) -> None:
        super().__init__(root, split, mano_dir)
        ann_dir = require_dir(self.root / "annotations" / split, f"InterHand2.6M's annotations/{split} folder")
        prefix = ann_dir / f"InterHand2.6M_{split}"
        data = read_json(f"{prefix}_data.json")
        self.cameras = read_json(f"{prefix}_camera.json")
        self.joints = read_json(f"{prefix}_joint_3d.json")
        mano_path = Path(f"{prefix}_MANO_NeuralAnnot.json")
        self.mano_params = read_json(mano_path) if mano_path.is_file() else None
        self.image_dir = self.root / "images" / split
        try:
            images = {im["id"]: im for im in data["images"]}
            for ann in data["annotations"]:
                im = images[ann["image_id"]]
                self.records.append(
                    _Record(
                        image=self.image_dir / im["file_name"],
                        image_id=int(im["id"]),
                        capture=str(im["capture"]),
                        camera=str(im["camera"]),
                        frame=str(im["frame_idx"]),
                        width=int(im["width"]),
                        height=int(im["height"]),
                        joint_valid=np.asarray(ann["joint_valid"], dtype=np.float64).reshape(42),
                        hand_type=str(ann.get("hand_type", "")),
                        bbox=np.asarray(ann.get("bbox", [0, 0, 0, 0]), dtype=np.float64).reshape(4),
                    )
                )
        except (KeyError, TypeError, ValueError) as e:
            raise InputError(f"{prefix}_data.json", f"not in InterHand2.6M's layout ({e})") from None

    def camera(self, rec: _Record) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """K (continuous pixels), R, C (mm) of a record's camera."""
        try:
            cam = self.cameras[rec.capture]
            R = np.asarray(cam["camrot"][rec.camera], dtype=np.float64).reshape(3, 3)
            C = np.asarray(cam["campos"][rec.camera], dtype=np.float64).reshape(3)
            f = np.asarray(cam["focal"][rec.camera], dtype=np.float64)
            c = np.asarray(cam["princpt"][rec.camera], dtype=np.float64)
        except KeyError as e:
            raise InputError(rec.image, f"no camera {rec.camera} of capture {rec.capture} ({e})") from None
        return shift_K(intrinsics(f[0], f[1], c[0], c[1])), R, C

    def joints_camera(self, rec: _Record) -> tuple[np.ndarray, np.ndarray]:
        """(42, 3) camera-frame joints in metres and (42,) validity (the toolkit's root rule applied)."""
        _, R, C = self.camera(rec)
        try:
            world = np.asarray(self.joints[rec.capture][rec.frame]["world_coord"], dtype=np.float64).reshape(42, 3)
        except KeyError:
            raise InputError(rec.image, f"no 3D joints for capture {rec.capture} frame {rec.frame}") from None
        cam = (world - C) @ R.T / 1000.0
        valid = rec.joint_valid > 0
        valid[:21] &= valid[20]
        valid[21:] &= valid[41]
        return cam, valid

    def raw_mano(self, rec: _Record, side: str) -> RawMANO | None:
        if self.mano_params is None:
            return None
        p = self.mano_params.get(rec.capture, {}).get(rec.frame, {}).get(side)
        if p is None:
            return None
        _, R, C = self.camera(rec)
        pose = np.asarray(p["pose"], dtype=np.float64).reshape(48)
        return RawMANO(
            side=side,
            global_orient=pose[:3],
            hand_pose=pose[3:],
            betas=p["shape"],
            transl=p["trans"],
            pose_space="relative",
            frame="world",
            R=R,
            t=-R @ C / 1000.0,
        )

    def load(self, rec: _Record):
        from handrecon.data.sample import HandLabel, Sample

        K, _, _ = self.camera(rec)
        cam, valid = self.joints_camera(rec)
        hands, raws = [], []
        for side in ("right", "left"):
            v = interhand42_to_openpose(valid, side)
            if not v.any():
                continue
            xyz = interhand42_to_openpose(cam, side)
            raw = self.raw_mano(rec, side)
            hands.append(
                HandLabel(
                    side=side,
                    keypoints_2d=keypoints_with_confidence(project(xyz, K), v),
                    joints_3d=np.where(v[:, None], xyz, 0.0),
                    joints_3d_valid=v,
                    **self.mano_fields(raw),
                )
            )
            raws.append(None if raw is None else raw.as_dict())
        extras = {
            "hand_type": rec.hand_type,
            "capture": rec.capture,
            "camera": rec.camera,
            "frame": rec.frame,
            "mano_raw": raws,
            "path": str(rec.image),
        }
        return Sample(
            image=read_rgb(rec.image), K=K, hands=hands, source=self.name, sample_id=str(rec.image_id), extras=extras
        )


def open_interhand26m(root, split: str = "train", **options) -> InterHand26MDataset:
    """`open_dataset("interhand26m", root, split)`: split "train", "val" or "test"; options `mano_dir`,
    `openhand_labels`."""
    from handrecon.data.release import open_release

    return open_release(InterHand26MDataset, root, split, **options)
