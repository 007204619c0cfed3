"""Reader of DexYCB's official release, with the splits of its toolkit (NVlabs/dex-ycb-toolkit,
`dex_ycb_toolkit/dex_ycb.py`, setups s0-s3, splits train/val/test):

    ROOT/<subject>/<sequence>/meta.yml                 serials, num_frames, mano_sides, mano_calib, ycb_ids
    ROOT/<subject>/<sequence>/<serial>/color_%06d.jpg
    ROOT/<subject>/<sequence>/<serial>/labels_%06d.npz  seg (H, W) (255 = hand), joint_3d (1, 21, 3) metres
                                                        camera frame, joint_2d (1, 21, 2) pixels (-1 = no
                                                        label), pose_m (1, 51), pose_y (objects)
    ROOT/calibration/intrinsics/<serial>_640x480.yml  color: fx, fy, ppx, ppy
    ROOT/calibration/mano_<calib>/mano.yml            betas (10)

A sample is one (sequence, camera, frame), enumerated as the toolkit does (sequences of the chosen
subjects sorted by name and picked by index, then every camera, then every frame). The joint order is
the toolkit's `_MANO_JOINTS`: wrist, then thumb to little finger from base to tip, i.e. OpenPose order.
MANO: `pose_m` is 3 global-rotation values, 45 PCA coefficients of MANO's pose components (the toolkit's
manopth layer: `use_pca=True, ncomps=45, flat_hand_mean=False`) and a translation (metres) in the camera
frame; the full pose needs the components of the user's MANO files, so without them the parameters are
kept only as given (`extras["mano_raw"]`). One hand per sequence (`mano_sides[0]`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from handrecon.data.mano_labels import RawMANO
from handrecon.data.release import ReleaseDataset, intrinsics, keypoints_with_confidence, read_rgb, shift_K
from handrecon.io.errors import InputError

SUBJECTS: tuple[str, ...] = (
    "20200709-subject-01", "20200813-subject-02", "20200820-subject-03", "20200903-subject-04",
    "20200908-subject-05", "20200918-subject-06", "20200928-subject-07", "20201002-subject-08",
    "20201015-subject-09", "20201022-subject-10",
)  # fmt: skip
SERIALS: tuple[str, ...] = (
    "836212060125", "839512060362", "840412060917", "841412060263",
    "932122060857", "932122060861", "932122061900", "932122062010",
)  # fmt: skip
ALL_SUBJECTS, ALL_SERIALS, ALL_SEQUENCES = list(range(10)), list(range(8)), list(range(100))

# (setup, split) -> (subject indices, serial indices, sequence indices), as in the toolkit.
SETUPS: dict[tuple[str, str], tuple[list[int], list[int], list[int]]] = {
    # s0: seen subjects, camera views and grasped objects
    ("s0", "train"): (ALL_SUBJECTS, ALL_SERIALS, [i for i in range(100) if i % 5 != 4]),
    ("s0", "val"): ([0, 1], ALL_SERIALS, [i for i in range(100) if i % 5 == 4]),
    ("s0", "test"): ([2, 3, 4, 5, 6, 7, 8, 9], ALL_SERIALS, [i for i in range(100) if i % 5 == 4]),
    # s1: unseen subjects
    ("s1", "train"): ([0, 1, 2, 3, 4, 5, 9], ALL_SERIALS, ALL_SEQUENCES),
    ("s1", "val"): ([6], ALL_SERIALS, ALL_SEQUENCES),
    ("s1", "test"): ([7, 8], ALL_SERIALS, ALL_SEQUENCES),
    # s2: unseen camera views
    ("s2", "train"): (ALL_SUBJECTS, [0, 1, 2, 3, 4, 5], ALL_SEQUENCES),
    ("s2", "val"): (ALL_SUBJECTS, [6], ALL_SEQUENCES),
    ("s2", "test"): (ALL_SUBJECTS, [7], ALL_SEQUENCES),
    # s3: unseen grasped objects
    ("s3", "train"): (ALL_SUBJECTS, ALL_SERIALS, [i for i in range(100) if i // 5 not in (3, 7, 11, 15, 19)]),
    ("s3", "val"): (ALL_SUBJECTS, ALL_SERIALS, [i for i in range(100) if i // 5 in (3, 19)]),
    ("s3", "test"): (ALL_SUBJECTS, ALL_SERIALS, [i for i in range(100) if i // 5 in (7, 11, 15)]),
}
HAND_SEG_LABEL = 255


def _yaml(path: Path) -> dict:
    import yaml

    try:
        with open(path, encoding="utf-8") as f:
            return yaml.safe_load(f)
    except FileNotFoundError:
        raise InputError(path, "file not found") from None
    except yaml.YAMLError as e:
        raise InputError(path, f"not valid YAML ({e})") from None


@dataclass
class _Sequence:
    folder: Path
    side: str
    betas: np.ndarray
    num_frames: int


class DexYCBDataset(ReleaseDataset):
    name: ClassVar[str] = "dexycb"
    splits: ClassVar[tuple[str, ...]] = ("train", "val", "test")
    split_labels: ClassVar[dict[str, list[str]]] = {
        s: ["rgb", "K", "side", "keypoints_2d", "joints_3d", "mask", "mano (45 PCA coefficients)"]
        for s in ("train", "val", "test")
    }

    def __init__(self, root: str | os.PathLike, split: str = "train", mano_dir=None, setup: str = "s0") -> None:
        super().__init__(root, split, mano_dir)
        if (setup, split) not in SETUPS:
            raise InputError(self.root, f"unknown DexYCB setup {setup!r}; expected s0, s1, s2 or s3")
        self.setup = setup
        subject_ind, serial_ind, sequence_ind = SETUPS[(setup, split)]
        self.serials = [SERIALS[i] for i in serial_ind]
        self.K = {}
        for s in self.serials:
            intr = _yaml(self.root / "calibration" / "intrinsics" / f"{s}_640x480.yml")["color"]
            self.K[s] = shift_K(intrinsics(intr["fx"], intr["fy"], intr["ppx"], intr["ppy"]))
        self.sequences: list[_Sequence] = []
        subjects = [SUBJECTS[i] for i in subject_ind]
        if not any((self.root / n).is_dir() for n in subjects):
            raise InputError(self.root, f"none of the {setup} {split} subjects' folders ({subjects[0]}, ...) found")
        for n in subjects:
            folder = self.root / n
            if not folder.is_dir():
                continue  # a partial copy of the release
            # The toolkit asserts 100 sequences per subject; a partial copy keeps the indices that exist.
            names = sorted(p.name for p in folder.iterdir() if p.is_dir())
            for i in sequence_ind:
                if i >= len(names):
                    continue
                meta = _yaml(folder / names[i] / "meta.yml")
                calib = _yaml(self.root / "calibration" / f"mano_{meta['mano_calib'][0]}" / "mano.yml")
                self.sequences.append(
                    _Sequence(
                        folder / names[i],
                        str(meta["mano_sides"][0]),
                        np.asarray(calib["betas"], float),
                        int(meta["num_frames"]),
                    )
                )
        # (sequence, camera, frame), frames fastest, as the toolkit's mapping
        for q, seq in enumerate(self.sequences):
            for c in range(len(self.serials)):
                self.records.extend((q, c, f) for f in range(seq.num_frames))

    def load(self, record: tuple[int, int, int]):
        from handrecon.data.sample import HandLabel, Sample

        q, c, f = record
        seq, serial = self.sequences[q], self.serials[c]
        d = seq.folder / serial
        label_path = d / f"labels_{f:06d}.npz"
        try:
            with np.load(label_path) as z:
                label = {k: z[k] for k in z.files}
        except FileNotFoundError:
            raise InputError(label_path, "label file not found") from None
        except (ValueError, OSError) as e:
            raise InputError(label_path, f"not a readable npz ({e})") from None
        K = self.K[serial]
        j3 = np.asarray(label["joint_3d"], dtype=np.float64).reshape(21, 3)
        j2 = np.asarray(label["joint_2d"], dtype=np.float64).reshape(21, 2)
        has_3d = not np.all(j3 == -1)
        valid2d = ~np.all(j2 == -1, axis=1)
        pose_m = np.asarray(label["pose_m"], dtype=np.float64).reshape(-1)
        raw = None
        if pose_m.size >= 51 and not np.all(pose_m == 0):
            raw = RawMANO(
                side=seq.side,
                global_orient=pose_m[:3],
                hand_pose=pose_m[3:48],
                betas=seq.betas,
                transl=pose_m[48:51],
                pose_space="pca",
                frame="camera",
            )
        hand = HandLabel(
            side=seq.side,
            keypoints_2d=keypoints_with_confidence(j2 + 0.5, valid2d) if valid2d.any() else None,
            joints_3d=j3 if has_3d else None,
            **self.mano_fields(raw),
        )
        mask = None
        if "seg" in label:
            mask = (np.asarray(label["seg"]) == HAND_SEG_LABEL).astype(np.uint8)  # slot 0 -> value 1
        extras = {
            "sequence": str(seq.folder.relative_to(self.root)),
            "serial": serial,
            "frame": f,
            "mano_raw": [None if raw is None else raw.as_dict()],
            "path": str(d / f"color_{f:06d}.jpg"),
        }
        image = read_rgb(d / f"color_{f:06d}.jpg")
        sid = f"{seq.folder.relative_to(self.root)}/{serial}/{f:06d}"
        return Sample(image=image, K=K, hands=[hand], mask=mask, source=self.name, sample_id=sid, extras=extras)


def open_dexycb(root, split: str = "train", **options) -> DexYCBDataset:
    """`open_dataset("dexycb", root, split)`: split "train", "val" or "test"; options `setup` ("s0"-"s3"), `mano_dir`,
    `openhand_labels`."""
    from handrecon.data.release import open_release

    return open_release(DexYCBDataset, root, split, **options)
