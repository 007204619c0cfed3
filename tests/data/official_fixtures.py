"""Writers of tiny releases in the datasets' official on-disk formats, with known values, for the reader
tests. Each writer returns what the reader must give back (OpenCV camera frame, metres, OpenPose order,
intrinsics before the +0.5 pixel-convention shift)."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
from PIL import Image

from handrecon.data.interhand import INTERHAND21_TO_OPENPOSE
from handrecon.hand.keypoints import OPENPOSE_TO_MANO21


def hand_xyz(offset=(0.0, 0.0, 0.5), seed: int = 0) -> np.ndarray:
    """(21, 3) OpenPose-order joints of a posed openhand hand in front of the camera (metres)."""
    import torch

    from handrecon.hand import HandModel

    g = torch.Generator().manual_seed(seed)
    pose = (torch.rand(1, 15, 3, generator=g, dtype=torch.float64) - 0.5) * 0.6
    orient = (torch.rand(1, 3, generator=g, dtype=torch.float64) - 0.5) * 2.0
    with torch.no_grad():
        J = HandModel(dtype=torch.float64)(global_orient=orient, hand_pose=pose, skin_mesh=False).joints[0].numpy()
    return J - J[9] + np.asarray(offset)


def K_index(fx=600.0, fy=610.0, cx=320.0, cy=240.0) -> np.ndarray:
    return np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1.0]])


def project_index(xyz: np.ndarray, K: np.ndarray) -> np.ndarray:
    p = xyz @ K.T
    return p[:, :2] / p[:, 2:]


def rotation(seed: int) -> np.ndarray:
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(3, 3)))
    return q * np.sign(np.linalg.det(q))


def write_image(path: Path, width: int, height: int, value: int = 90, mode: str = "RGB") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, (width, height), value if mode == "L" else (value, value + 10, value + 20)).save(path)


def to_interhand21(openpose: np.ndarray) -> np.ndarray:
    out = np.zeros_like(openpose)
    out[list(INTERHAND21_TO_OPENPOSE)] = openpose
    return out


# ---------------------------------------------------------------------------------------------------
def write_interhand(root: Path, split: str = "test") -> dict:
    """Two images of one capture: both hands (the left wrist invalid in the second -> left absent)."""
    R, C = rotation(1), np.array([100.0, -50.0, 300.0])  # camera rotation, centre (mm)
    K = K_index(1200.0, 1201.0, 167.0, 256.0)
    right, left = hand_xyz((0.03, 0.0, 0.9), 1), hand_xyz((-0.05, 0.01, 0.95), 2)
    cam42 = np.concatenate([to_interhand21(right), to_interhand21(left)]) * 1000.0
    world = cam42 @ R + C  # inverse of x_cam = R (x_world - C)
    images, anns, joints = [], [], {}
    for k, frame in enumerate((101, 102)):
        name = f"Capture5/0001_neutral_rigid/cam400002/image{frame}.jpg"
        write_image(root / "images" / split / name, 334, 512)
        images.append(
            {"id": k, "file_name": name, "width": 334, "height": 512, "capture": 5, "subject": 1,
             "seq_name": "0001_neutral_rigid", "camera": "400002", "frame_idx": frame}
        )  # fmt: skip
        valid = np.ones((42, 1))
        if k == 1:
            valid[41] = 0  # left wrist invalid: the toolkit invalidates the whole left hand
        anns.append({"id": k, "image_id": k, "bbox": [10, 20, 100, 120], "joint_valid": valid.tolist(),
                     "hand_type": "interacting", "hand_type_valid": 1})  # fmt: skip
        joints[str(frame)] = {"world_coord": world.tolist(), "joint_valid": valid.tolist(), "hand_type": "interacting",
                              "hand_type_valid": True}  # fmt: skip
    cams = {"5": {"campos": {"400002": C.tolist()}, "camrot": {"400002": R.tolist()},
                  "focal": {"400002": [K[0, 0], K[1, 1]]}, "princpt": {"400002": [K[0, 2], K[1, 2]]}}}  # fmt: skip
    mano = {"5": {"101": {"right": {"pose": list(np.linspace(-0.3, 0.3, 48)), "shape": [0.1] * 10,
                                    "trans": [0.1, 0.2, 0.3]}, "left": None}}}  # fmt: skip
    ann_dir = root / "annotations" / split
    ann_dir.mkdir(parents=True, exist_ok=True)
    for suffix, obj in (("data", {"images": images, "annotations": anns}), ("camera", cams),
                        ("joint_3d", {"5": joints}), ("MANO_NeuralAnnot", mano)):  # fmt: skip
        (ann_dir / f"InterHand2.6M_{split}_{suffix}.json").write_text(json.dumps(obj))
    return {"K": K, "right": right, "left": left, "R": R, "C": C}


# ---------------------------------------------------------------------------------------------------
def write_ho3d(root: Path) -> dict:
    """train: one annotated frame (v3 jpg) and one without hand annotation; evaluation: root + box."""
    K = K_index(614.0, 615.0, 312.0, 241.0)
    xyz = hand_xyz((0.01, 0.02, 0.55), 3)
    mano21_gl = xyz[list(OPENPOSE_TO_MANO21)] * np.array([1.0, -1.0, -1.0])
    pose = np.linspace(-0.5, 0.5, 48)

    def meta(split: str, seq: str, fid: str, d: dict) -> None:
        p = root / split / seq / "meta" / f"{fid}.pkl"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(pickle.dumps(d, protocol=2))
        write_image(root / split / seq / "rgb" / f"{fid}.jpg", 640, 480)

    annotated = {"handJoints3D": mano21_gl, "handPose": pose, "handBeta": np.full(10, 0.2),
                 "handTrans": np.array([0.01, -0.02, -0.5]), "camMat": K, "objName": "021_bleach"}  # fmt: skip
    meta("train", "ABF10", "0000", annotated)
    meta("train", "ABF10", "0001", {"handJoints3D": None, "handPose": None, "handBeta": None, "handTrans": None,
                                     "camMat": K, "objName": "021_bleach"})  # fmt: skip
    root_gl = mano21_gl[0]
    box = np.array([100.0, 120.0, 220.0, 260.0])
    meta("evaluation", "SM1", "0000", {"handJoints3D": root_gl, "handBoundingBox": box,
                                        "camMat": K, "objName": "006_mustard"})  # fmt: skip
    (root / "train.txt").write_text("ABF10/0000\nABF10/0001\n")
    (root / "evaluation.txt").write_text("SM1/0000\n")
    return {"K": K, "xyz": xyz, "pose": pose}


# ---------------------------------------------------------------------------------------------------
DEX_SUBJECT = "20200709-subject-01"
DEX_SERIALS = ("836212060125", "839512060362", "840412060917", "841412060263",
               "932122060857", "932122060861", "932122061900", "932122062010")  # fmt: skip


def write_dexycb(root: Path) -> dict:
    """Subject 01 with 5 sequences (s0 val picks the fifth), 2 frames each; labels of camera 0 frames 0-1."""
    import yaml

    K = K_index(616.0, 617.0, 318.0, 243.0)
    for s in DEX_SERIALS:
        p = root / "calibration" / "intrinsics" / f"{s}_640x480.yml"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(
            yaml.safe_dump(
                {"color": {"fx": float(K[0, 0]), "fy": float(K[1, 1]), "ppx": float(K[0, 2]), "ppy": float(K[1, 2])}}
            )
        )
    calib = root / "calibration" / "mano_20200709-subject-01_left" / "mano.yml"
    calib.parent.mkdir(parents=True, exist_ok=True)
    betas = [float(b) for b in np.linspace(-1, 1, 10)]
    calib.write_text(yaml.safe_dump({"betas": betas}))
    names = [f"20200709_1417{i:02d}" for i in range(5)]
    for n in names:
        d = root / DEX_SUBJECT / n
        d.mkdir(parents=True, exist_ok=True)
        (d / "meta.yml").write_text(yaml.safe_dump({"serials": list(DEX_SERIALS), "num_frames": 2, "ycb_ids": [2],
            "ycb_grasp_ind": 0, "mano_sides": ["left"], "mano_calib": ["20200709-subject-01_left"]}))  # fmt: skip
    xyz = hand_xyz((0.0, 0.05, 0.7), 4)
    uv = project_index(xyz, K)
    pose_m = np.linspace(-1, 1, 51)[None]
    seg = np.zeros((480, 640), np.uint8)
    seg[100:150, 200:260] = 255
    seg[300:310, 10:20] = 2  # an object
    d = root / DEX_SUBJECT / names[4] / DEX_SERIALS[0]
    d.mkdir(parents=True, exist_ok=True)
    np.savez(d / "labels_000000.npz", seg=seg, joint_3d=xyz[None].astype(np.float32),
             joint_2d=uv[None].astype(np.float32),
             pose_m=pose_m.astype(np.float32), pose_y=np.zeros((1, 3, 4), np.float32))  # fmt: skip
    np.savez(d / "labels_000001.npz", seg=np.zeros((480, 640), np.uint8), joint_3d=-np.ones((1, 21, 3), np.float32),
             joint_2d=-np.ones((1, 21, 2), np.float32), pose_m=np.zeros((1, 51), np.float32),
             pose_y=np.zeros((1, 3, 4), np.float32))  # fmt: skip
    for f in (0, 1):
        write_image(d / f"color_{f:06d}.jpg", 640, 480)
    return {"K": K, "xyz": xyz, "uv": uv, "pose_m": pose_m[0], "betas": np.asarray(betas), "seg": seg,
            "sequence": f"{DEX_SUBJECT}/{names[4]}"}  # fmt: skip


# ---------------------------------------------------------------------------------------------------
def write_arctic(root: Path) -> dict:
    """arctic_data/data with one processed sequence of 22 frames (egocentric images 10 and 11), no split
    file (the reader enumerates frames from splits_json as the toolkit does)."""
    data = root / "arctic_data" / "data"
    n, ioi = 22, 2
    rng = np.random.default_rng(5)
    joints_r = rng.uniform(-0.05, 0.05, size=(n, 10, 21, 3)) + np.array([0.0, 0.1, 0.4])
    joints_l = rng.uniform(-0.05, 0.05, size=(n, 10, 21, 3)) + np.array([-0.1, 0.1, 0.4])
    right_valid = np.ones((n, 10))
    left_valid = np.ones((n, 10))
    left_valid[11 - ioi, 0] = 0  # image 11: left hand not valid in the egocentric view
    K_ego = np.stack([K_index(1000.0 + i, 1000.0 + i, 1400.0, 1000.0) for i in range(n)])
    world2ego = np.tile(np.eye(4), (n, 1, 1))
    world2ego[:, :3, :3] = rotation(6)
    world2ego[:, :3, 3] = [0.1, 0.2, 0.3]
    params = {
        "rot_r": rng.normal(size=(n, 3)), "pose_r": rng.normal(size=(n, 45)), "trans_r": rng.normal(size=(n, 3)),
        "shape_r": rng.normal(size=(n, 10)), "rot_l": rng.normal(size=(n, 3)), "pose_l": rng.normal(size=(n, 45)),
        "trans_l": rng.normal(size=(n, 3)), "shape_l": rng.normal(size=(n, 10)), "K_ego": K_ego,
        "world2ego": world2ego, "dist": np.tile(np.arange(8.0), (n, 1)),
    }  # fmt: skip
    seq = {"cam_coord": {"joints.right": joints_r, "joints.left": joints_l, "right_valid": right_valid,
                         "left_valid": left_valid}, "params": params}  # fmt: skip
    (data / "processed_seqs" / "s01").mkdir(parents=True)
    np.save(data / "processed_seqs" / "s01" / "box_grab_01.npy", seq, allow_pickle=True)
    (data / "splits_json").mkdir()
    for setup in ("p1", "p2"):
        protocol = {"train": [], "val": ["s01/box_grab_01"], "test": []}
        (data / "splits_json" / f"protocol_{setup}.json").write_text(json.dumps(protocol))
    (data / "meta").mkdir()
    intris = [K_index(900.0 + v, 900.0, 1000.0, 1000.0).tolist() for v in range(8)]
    misc = {"s01": {"ioi_offset": ioi, "intris_mat": intris, "world2cam": [np.eye(4).tolist()] * 8,
                    "image_size": [[2800, 2000]] * 9, "gender": "female"}}  # fmt: skip
    (data / "meta" / "misc.json").write_text(json.dumps(misc))
    for f in (10, 11):
        write_image(data / "images" / "s01" / "box_grab_01" / "0" / f"{f:05d}.jpg", 280, 200)
    return {"joints_r": joints_r, "joints_l": joints_l, "K_ego": K_ego, "ioi": ioi, "params": params}


# ---------------------------------------------------------------------------------------------------
def write_assemblyhands(root: Path, split: str = "val") -> dict:
    """Two frames of one headset camera with different extrinsics; the second has no left hand (bbox null)."""
    seq, cam = "nusar-2021_action_both_9081-c11b_9081_user_id_2021-02-12_161433", "HMC_21179183"
    K = K_index(300.0, 301.0, 319.0, 239.0)
    right, left = hand_xyz((0.05, 0.1, 0.45), 7), hand_xyz((-0.05, 0.1, 0.45), 8)
    cam42 = np.concatenate([to_interhand21(right), to_interhand21(left)]) * 1000.0
    images, anns, joints, extr = [], [], {}, {}
    for k, frame in enumerate((630, 631)):
        R, t = rotation(10 + k), np.array([10.0, 20.0 * k, 30.0])
        world = (cam42 - t) @ R  # inverse of x_cam = R x + t
        name = f"ego_images_rectified/{split}/{seq}/{cam}_mono10bit/{frame:06d}.jpg"
        write_image(root / "images" / name, 640, 480, mode="L")
        images.append({"id": k, "file_name": name, "width": 640, "height": 480, "seq_name": seq, "camera": cam,
                       "frame_idx": frame})  # fmt: skip
        bbox = {"right": [1.0, 2.0, 100.0, 120.0], "left": [200.0, 2.0, 300.0, 120.0] if k == 0 else None}
        anns.append({"id": k, "image_id": k, "bbox": bbox, "joint_valid": np.ones((42, 1)).tolist()})
        joints[f"{frame:06d}"] = {"world_coord": world.tolist()}
        extr[f"{frame:06d}"] = {f"{cam}_mono10bit": np.concatenate([R, t[:, None]], 1).tolist()}
    ann_dir = root / "annotations" / split
    ann_dir.mkdir(parents=True, exist_ok=True)
    (ann_dir / f"assemblyhands_{split}_ego_data_v1-1.json").write_text(
        json.dumps({"images": images, "annotations": anns})
    )
    calib = {"calibration": {seq: {"intrinsics": {f"{cam}_mono10bit": K.tolist()}, "extrinsics": extr}}}
    (ann_dir / f"assemblyhands_{split}_ego_calib_v1-1.json").write_text(json.dumps(calib))
    (ann_dir / f"assemblyhands_{split}_joint_3d_v1-1.json").write_text(json.dumps({"annotations": {seq: joints}}))
    return {"K": K, "right": right, "left": left}
