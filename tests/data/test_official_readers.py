"""Each official-release reader on a tiny release written in that dataset's format, with known values."""

from __future__ import annotations

import numpy as np
import pytest

from handrecon.data.arctic import ARCTICDataset
from handrecon.data.assemblyhands import AssemblyHandsDataset
from handrecon.data.dexycb import DexYCBDataset
from handrecon.data.ho3d import HO3DDataset
from handrecon.data.interhand import InterHand26MDataset
from handrecon.data.sample import Sample
from handrecon.hand.keypoints import MANO21_TO_OPENPOSE
from handrecon.io.errors import InputError

from . import official_fixtures as fx


def shifted(K: np.ndarray) -> np.ndarray:
    K = K.copy()
    K[:2, 2] += 0.5
    return K


def hand(sample: Sample, side: str):
    return next(h for h in sample.hands if h.side == side)


def test_interhand_camera_frame_order_and_root_rule(tmp_path):
    truth = fx.write_interhand(tmp_path)
    ds = InterHand26MDataset(tmp_path, "test")
    assert len(ds) == 2
    s = ds[0]
    assert s.image.shape == (512, 334, 3)
    np.testing.assert_allclose(s.K, shifted(truth["K"]))
    for side in ("right", "left"):
        h = hand(s, side)
        np.testing.assert_allclose(h.joints_3d, truth[side], atol=1e-9)  # metres, camera frame, OpenPose
        np.testing.assert_allclose(h.keypoints_2d[:, :2], fx.project_index(truth[side], truth["K"]) + 0.5, atol=1e-9)
        assert h.keypoints_2d[:, 2].min() == 1.0
    # the wrist is index 0 after reordering (InterHand2.6M stores it last)
    assert hand(s, "right").joints_3d[0] == pytest.approx(truth["right"][0])
    # MANO: world-frame parameters kept as given; handrecon parameters need MANO files
    raw = s.extras["mano_raw"][[h.side for h in s.hands].index("right")]
    assert raw["frame"] == "world" and raw["hand_pose"].shape == (45,)
    np.testing.assert_allclose(raw["R"], truth["R"])
    np.testing.assert_allclose(raw["t"], -truth["R"] @ truth["C"] / 1000)
    assert hand(s, "right").hand_pose is None
    # second image: left wrist invalid -> the whole left hand invalid (toolkit's root rule) -> absent
    assert [h.side for h in ds[1].hands] == ["right"]
    assert ds[1].extras["mano_raw"] == [None]


def test_ho3d_opengl_axes_and_evaluation_split(tmp_path):
    truth = fx.write_ho3d(tmp_path)
    train = HO3DDataset(tmp_path, "train")
    assert len(train) == 2
    s = train[0]
    h = s.hands[0]
    assert h.side == "right"
    np.testing.assert_allclose(h.joints_3d, truth["xyz"], atol=1e-12)
    assert (h.joints_3d[:, 2] > 0).all()  # in front of the camera in OpenCV axes
    # the toolkit's projection (OpenGL -> flip y, z -> camMat), shifted to continuous pixels
    np.testing.assert_allclose(h.keypoints_2d[:, :2], fx.project_index(truth["xyz"], truth["K"]) + 0.5, atol=1e-9)
    raw = s.extras["mano_raw"][0]
    assert raw["pose_space"] == "absolute" and raw["frame"] == "camera_opengl"
    np.testing.assert_allclose(raw["hand_pose"], truth["pose"][3:])
    assert h.hand_pose is None  # absolute pose in an OpenGL frame: needs MANO's mean pose and rest joints
    empty = train[1].hands[0]
    assert empty.joints_3d is None and empty.keypoints_2d is None
    ev = HO3DDataset(tmp_path, "evaluation")[0].hands[0]
    assert ev.joints_3d_valid.tolist() == [True] + [False] * 20
    np.testing.assert_allclose(ev.joints_3d[0], truth["xyz"][0], atol=1e-12)
    np.testing.assert_allclose(ev.box, [100.5, 120.5, 220.5, 260.5])
    assert ev.keypoints_2d is None
    t = HO3DDataset(tmp_path, "evaluation")[0].to_tensors()
    assert t["joints_3d_valid"][0].sum() == 1 and not t["has_keypoints_2d"][0] and t["has_box"][0]


def test_dexycb_split_enumeration_mask_and_pca(tmp_path):
    truth = fx.write_dexycb(tmp_path)
    ds = DexYCBDataset(tmp_path, "val", setup="s0")
    # s0 val: subjects 01-02 (only 01 here), sequence index 4, 8 cameras, 2 frames
    assert len(ds) == 16
    s = ds[0]
    assert s.sample_id == f"{truth['sequence']}/{fx.DEX_SERIALS[0]}/000000"
    np.testing.assert_allclose(s.K, shifted(truth["K"]))
    h = s.hands[0]
    assert h.side == "left"
    np.testing.assert_allclose(h.joints_3d, truth["xyz"], atol=1e-6)
    np.testing.assert_allclose(h.keypoints_2d[:, :2], truth["uv"] + 0.5, atol=1e-3)
    # the 2D labels are the projection of the 3D ones with the (shifted) intrinsics
    p = h.joints_3d @ s.K.T
    np.testing.assert_allclose(p[:, :2] / p[:, 2:], h.keypoints_2d[:, :2], atol=1e-3)
    assert s.mask.dtype == np.uint8 and s.mask.sum() == 50 * 60  # hand (255) only, as slot 0
    assert s.mask[120, 230] == 1 and s.mask[305, 15] == 0
    raw = s.extras["mano_raw"][0]
    assert raw["pose_space"] == "pca" and raw["hand_pose"].shape == (45,)
    np.testing.assert_allclose(raw["global_orient"], truth["pose_m"][:3], atol=1e-6)
    np.testing.assert_allclose(raw["transl"], truth["pose_m"][48:], atol=1e-6)
    np.testing.assert_allclose(raw["betas"], truth["betas"])
    assert h.hand_pose is None  # full pose needs MANO's pose components
    # frame 1: no hand label (-1) and zero MANO pose
    h1 = ds[1].hands[0]
    assert h1.joints_3d is None and h1.keypoints_2d is None and ds[1].extras["mano_raw"] == [None]
    # s0 train uses sequences 0-3 of each subject; s1 val subject 07 is absent here
    assert len(DexYCBDataset(tmp_path, "train", setup="s0")) == 4 * 8 * 2
    with pytest.raises(InputError):
        DexYCBDataset(tmp_path, "val", setup="s1")


def test_arctic_egocentric_per_frame_camera(tmp_path):
    truth = fx.write_arctic(tmp_path)
    ds = ARCTICDataset(tmp_path, "val")  # setup p2: egocentric view 0, frames 10 .. n-10
    assert len(ds) == 2
    s = ds[0]
    vidx = 10 - truth["ioi"]
    np.testing.assert_allclose(s.K, shifted(truth["K_ego"][vidx]))  # the frame's own intrinsics
    assert s.K[0, 0] != ds[1].K[0, 0]
    r = hand(s, "right")
    np.testing.assert_allclose(r.joints_3d, truth["joints_r"][vidx, 0][list(MANO21_TO_OPENPOSE)])
    p = r.joints_3d @ s.K.T
    np.testing.assert_allclose(r.keypoints_2d[:, :2], p[:, :2] / p[:, 2:], atol=1e-9)
    raw = s.extras["mano_raw"][0]
    np.testing.assert_allclose(raw["R"], truth["params"]["world2ego"][vidx, :3, :3])
    np.testing.assert_allclose(raw["hand_pose"], truth["params"]["pose_r"][vidx])
    assert [h.side for h in ds[1].hands] == ["right"]  # left not valid in the egocentric view of image 11
    np.testing.assert_allclose(s.extras["dist8"], np.arange(8.0))
    # p1: the 8 allocentric views, with the subject's fixed K and extrinsics from meta/misc.json
    p1 = ARCTICDataset(tmp_path, "val", setup="p1")
    assert len(p1) == 2 * 8
    rec = p1.records[2]  # image 10, view 3
    assert (rec.frame, rec.view) == (10, 3)
    fx.write_image(p1.image_path(rec), 280, 200)
    a = p1[2]
    np.testing.assert_allclose(a.K, shifted(fx.K_index(902.0, 900.0, 1000.0, 1000.0)))
    np.testing.assert_allclose(hand(a, "left").joints_3d, truth["joints_l"][vidx, 3][list(MANO21_TO_OPENPOSE)])
    assert "dist8" not in a.extras


def test_assemblyhands_per_frame_extrinsics_and_boxes(tmp_path):
    truth = fx.write_assemblyhands(tmp_path)
    ds = AssemblyHandsDataset(tmp_path, "val")
    assert len(ds) == 2
    for i in range(2):
        s = ds[i]
        assert s.image.shape == (480, 640, 3)  # monochrome repeated
        np.testing.assert_allclose(hand(s, "right").joints_3d, truth["right"], atol=1e-9)
    s = ds[0]
    np.testing.assert_allclose(hand(s, "left").joints_3d, truth["left"], atol=1e-9)
    np.testing.assert_allclose(hand(s, "left").box, [200.5, 2.5, 300.5, 120.5])
    np.testing.assert_allclose(
        hand(s, "right").keypoints_2d[:, :2], fx.project_index(truth["right"], truth["K"]) + 0.5, atol=1e-9
    )
    assert [h.side for h in ds[1].hands] == ["right"]


def test_missing_release_is_a_one_line_error(tmp_path):
    for cls, split in ((InterHand26MDataset, "test"), (HO3DDataset, "train"), (AssemblyHandsDataset, "val")):
        with pytest.raises(InputError) as e:
            cls(tmp_path, split)
        assert "\n" not in str(e.value)
    with pytest.raises(InputError):
        ARCTICDataset(tmp_path, "val")
    with pytest.raises(InputError):
        HO3DDataset(tmp_path, "nosplit")


def test_registry_opens_every_release_reader(tmp_path):
    from handrecon.data import dataset_names, open_dataset

    names = {"freihand", "ho3d", "dexycb", "interhand26m", "arctic", "assemblyhands", "synthetic", "pseudo"}
    assert names <= set(dataset_names())
    fx.write_ho3d(tmp_path / "ho3d")
    assert isinstance(open_dataset("ho3d", tmp_path / "ho3d", "evaluation"), HO3DDataset)
    fx.write_dexycb(tmp_path / "dex")
    assert len(open_dataset("dexycb", tmp_path / "dex", "val", setup="s0")) == 16
    with pytest.raises(InputError, match="needed"):
        open_dataset("arctic", None, "val")


def test_release_info_lists_splits_counts_and_labels(tmp_path):
    from handrecon.data.release_info import describe_release, format_release

    fx.write_ho3d(tmp_path)
    infos = describe_release("ho3d", tmp_path)
    assert [(i.name, i.samples) for i in infos] == [("train", 2), ("evaluation", 1)]
    text = format_release("ho3d", tmp_path, infos)
    assert "evaluation: 1 samples" in text and "root joint only" in text
    dex = describe_release("dexycb", tmp_path)  # not a DexYCB release: every split absent
    assert all(i.samples is None for i in dex)


def test_data_info_command_prints_every_split(tmp_path, capsys):
    from handrecon.cli import main

    fx.write_ho3d(tmp_path)
    assert main(["data", "info", "ho3d", str(tmp_path), "--samples", "2"]) == 0
    out = capsys.readouterr().out
    assert "train: 2 samples" in out and "evaluation: 1 samples" in out
    assert "mano (OpenGL camera, absolute pose)" in out


def test_release_folder_from_environment_or_config(tmp_path, monkeypatch):
    from handrecon.data import open_dataset

    fx.write_ho3d(tmp_path / "releases" / "ho3d")
    monkeypatch.delenv("HANDRECON_HO3D_ROOT", raising=False)
    monkeypatch.setenv("HANDRECON_DATASETS", str(tmp_path / "datasets.yaml"))
    (tmp_path / "datasets.yaml").write_text(f"ho3d: {tmp_path / 'releases' / 'ho3d'}\n")
    assert len(open_dataset("ho3d", None, "train")) == 2
    (tmp_path / "datasets.yaml").write_text("{}\n")
    monkeypatch.setenv("HANDRECON_DATA_ROOT", str(tmp_path / "releases"))
    assert len(open_dataset("ho3d", None, "evaluation")) == 1
    monkeypatch.setenv("HANDRECON_HO3D_ROOT", str(tmp_path / "nowhere"))
    with pytest.raises(InputError, match="nowhere"):
        open_dataset("ho3d", None, "train")
