"""Reader of AssemblyHands' official release (egocentric images, annotation version v1-1), as its toolkit
reads it (facebookresearch/assemblyhands-toolkit, `src/dataset/AssemblyHands-Ego/dataset.py`):

    ROOT/annotations/{split}/assemblyhands_{split}_ego_data_v1-1.json   COCO: images (file_name relative
                        to ROOT/images, seq_name, camera, frame_idx, width, height), annotations (bbox
                        {right, left}: x0, y0, x1, y1 or null, joint_valid (42))
    ROOT/annotations/{split}/assemblyhands_{split}_ego_calib_v1-1.json  {"calibration": {seq: {"intrinsics":
                        {camera_mono10bit: K}, "extrinsics": {frame %06d: {camera_mono10bit: [R|t] 3x4}}}}}
    ROOT/annotations/{split}/assemblyhands_{split}_joint_3d_v1-1.json   {"annotations": {seq: {frame %06d:
                        {"world_coord": (42, 3) mm}}}}
    ROOT/images/ego_images_rectified/{split}/<seq>/<camera>_mono10bit/<frame>.jpg

splits: train, val, test. Joints: InterHand2.6M's 42-joint order (right 0-20, left 21-41, the thumb first,
tip to base, the wrist last). Camera: x_cam = R x_world + t (mm), per frame (the headset moves); the
toolkit factors K [R|t] back into K, R, t, which gives the stored R and t. The images are rectified
monochrome frames (repeated on three channels). The toolkit keeps every joint flag as given (its root rule
is commented out); so does this reader. A hand whose bbox is null is absent from the image.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from handrecon.data.interhand import interhand42_to_openpose
from handrecon.data.release import (
    ReleaseDataset,
    keypoints_with_confidence,
    project,
    read_json,
    read_rgb,
    require_dir,
    shift_K,
)
from handrecon.io.errors import InputError

ANNOT_VERSION = "v1-1"
CAMERA_SUFFIX = "_mono10bit"


@dataclass
class _Record:
    image: Path
    image_id: int
    seq: str
    camera: str
    frame: int
    joint_valid: np.ndarray  # (42,)
    boxes: dict  # side -> (4,) x0, y0, x1, y1 or None


class AssemblyHandsDataset(ReleaseDataset):
    name: ClassVar[str] = "assemblyhands"
    splits: ClassVar[tuple[str, ...]] = ("train", "val", "test")
    split_labels: ClassVar[dict[str, list[str]]] = {
        s: ["rgb (monochrome)", "K", "side", "keypoints_2d", "joints_3d", "box"] for s in ("train", "val", "test")
    }

    def __init__(
        self, root: str | os.PathLike, split: str = "val", mano_dir=None, version: str = ANNOT_VERSION
    ) -> None:
        super().__init__(root, split, mano_dir)
        ann_dir = require_dir(self.root / "annotations" / split, f"AssemblyHands' annotations/{split} folder")
        prefix = ann_dir / f"assemblyhands_{split}"
        data = read_json(f"{prefix}_ego_data_{version}.json")
        try:
            self.calib = read_json(f"{prefix}_ego_calib_{version}.json")["calibration"]
            self.joints = read_json(f"{prefix}_joint_3d_{version}.json")["annotations"]
            images = {im["id"]: im for im in data["images"]}
            for ann in data["annotations"]:
                im = images[ann["image_id"]]
                boxes = ann.get("bbox") or {}
                self.records.append(
                    _Record(
                        image=self.root / "images" / im["file_name"],
                        image_id=int(im["id"]),
                        seq=str(im["seq_name"]),
                        camera=str(im["camera"]),
                        frame=int(im["frame_idx"]),
                        joint_valid=np.asarray(ann["joint_valid"], dtype=np.float64).reshape(42),
                        boxes={s: boxes.get(s) for s in ("right", "left")},
                    )
                )
        except (KeyError, TypeError, ValueError) as e:
            raise InputError(f"{prefix}_ego_data_{version}.json", f"not in AssemblyHands' layout ({e})") from None

    def camera(self, rec: _Record) -> tuple[np.ndarray, np.ndarray]:
        """K (continuous pixels) and the (3, 4) world-to-camera [R|t] (mm) of a record."""
        key = rec.camera + CAMERA_SUFFIX
        try:
            cal = self.calib[rec.seq]
            K = np.asarray(cal["intrinsics"][key], dtype=np.float64).reshape(3, 3)
            Rt = np.asarray(cal["extrinsics"][f"{rec.frame:06d}"][key], dtype=np.float64).reshape(3, 4)
        except KeyError as e:
            raise InputError(rec.image, f"no calibration of {key} at frame {rec.frame} ({e})") from None
        return shift_K(K), Rt

    def load(self, rec: _Record):
        from handrecon.data.sample import HandLabel, Sample

        K, Rt = self.camera(rec)
        try:
            world = np.asarray(self.joints[rec.seq][f"{rec.frame:06d}"]["world_coord"], dtype=np.float64).reshape(42, 3)
        except KeyError:
            raise InputError(rec.image, f"no 3D joints for {rec.seq} frame {rec.frame}") from None
        cam = (world @ Rt[:, :3].T + Rt[:, 3]) / 1000.0
        valid = rec.joint_valid > 0
        hands = []
        for side in ("right", "left"):
            box = rec.boxes[side]
            v = interhand42_to_openpose(valid, side)
            if box is None or not v.any():
                continue
            xyz = interhand42_to_openpose(cam, side)
            hands.append(
                HandLabel(
                    side=side,
                    keypoints_2d=keypoints_with_confidence(project(xyz, K), v),
                    joints_3d=np.where(v[:, None], xyz, 0.0),
                    joints_3d_valid=v,
                    box=np.asarray(box, dtype=np.float64).reshape(4) + 0.5,
                )
            )
        extras = {"seq": rec.seq, "camera": rec.camera, "frame": rec.frame, "path": str(rec.image)}
        return Sample(
            image=read_rgb(rec.image), K=K, hands=hands, source=self.name, sample_id=str(rec.image_id), extras=extras
        )


def open_assemblyhands(root, split: str = "train", **options) -> AssemblyHandsDataset:
    """`open_dataset("assemblyhands", root, split)`: split "train", "val" or "test"; options `version`."""
    from handrecon.data.release import open_release

    return open_release(AssemblyHandsDataset, root, split, **options)
