"""The InterHand2.6M reader on a release folder rebuilt from the official annotation excerpts in
../shared/devdata/labeled/interhand2.6m (image names flattened there; restored here to the official
`images/test/Capture*/<seq>/cam*/image*.jpg` layout) against that folder's camera-frame joints."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from handrecon.data.devdata import default_devdata_dir
from handrecon.data.interhand import InterHand26MDataset


@pytest.fixture
def release(tmp_path):
    dev = default_devdata_dir()
    folder = None if dev is None else dev / "labeled" / "interhand2.6m"
    if folder is None or not (folder / "test_interhand2.6m_data.json").is_file():
        pytest.skip("../shared/devdata/labeled/interhand2.6m not present")
    data = json.loads((folder / "test_interhand2.6m_data.json").read_text())
    for im in data["images"]:
        flat = im["file_name"]
        im["file_name"] = f"Capture{im['capture']}/{im['seq_name']}/cam{im['camera']}/image{im['frame_idx']}.jpg"
        target = tmp_path / "images" / "test" / im["file_name"]
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(folder / flat, target)
    ann = tmp_path / "annotations" / "test"
    ann.mkdir(parents=True)
    (ann / "InterHand2.6M_test_data.json").write_text(json.dumps(data))
    for part in ("camera", "joint_3d"):
        shutil.copyfile(folder / f"test_interhand2.6m_{part}.json", ann / f"InterHand2.6M_test_{part}.json")
    truth = json.loads((folder / "annotations_freihand_order.json").read_text())
    return tmp_path, {s["image"]: s for s in truth["samples"]}


def test_interhand_release_matches_devdata_camera_joints(release):
    root, truth = release
    ds = InterHand26MDataset(root, "test")
    assert len(ds) == len(truth)
    checked = 0
    for i in range(len(ds)):
        s = ds[i]
        name = s.extras["path"].rsplit("/", 1)[-1]
        t = truth[name]
        assert sorted(h.side for h in s.hands) == sorted(t["hands"])
        assert s.image.shape[:2] == (t["height"], t["width"])
        for h in s.hands:
            ref = t["hands"][h.side]
            valid = np.asarray(ref["valid"], bool).reshape(-1)
            np.testing.assert_allclose(h.joints_3d[valid], np.asarray(ref["xyz_m"])[valid], atol=1e-6)
            assert h.joints_3d_valid[valid].all()
            # 2D: the projection with the release's intrinsics, +0.5 into continuous pixels
            np.testing.assert_allclose(h.keypoints_2d[valid, :2], np.asarray(ref["uv_px"])[valid] + 0.5, atol=1e-3)
            checked += 1
    assert checked == 6
