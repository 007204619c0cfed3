"""Submission files against the servers' published formats (FreiHAND, HO3D v2 / v3)."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from handrecon.hand.keypoints import convert_keypoints
from handrecon.train import submission
from handrecon.train.submission import check_submission, write_submission


def _predictions(n: int):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, 21, 3)) * 0.05 + [0, 0, 0.6], rng.normal(size=(n, 778, 3)) * 0.05 + [0, 0, 0.6]


def test_freihand_pred_json(tmp_path, monkeypatch):
    monkeypatch.setitem(submission.FORMATS, "freihand", {**submission.FORMATS["freihand"], "count": 5})
    joints, verts = _predictions(5)
    path = write_submission(joints, verts, "freihand", tmp_path)
    assert path.name == "pred.json"
    xyz, vv = json.loads(path.read_text())
    assert np.allclose(xyz, joints) and np.allclose(vv, verts)  # OpenCV axes, FreiHAND order = OpenPose-21
    assert check_submission(path, "freihand") == []


@pytest.mark.parametrize("fmt", ["ho3d_v2", "ho3d_v3"])
def test_ho3d_pred_zip_in_opengl_axes_and_mano_order(fmt, tmp_path, monkeypatch):
    monkeypatch.setitem(submission.FORMATS, fmt, {**submission.FORMATS[fmt], "count": 4})
    joints, verts = _predictions(4)
    path = write_submission(joints, verts, fmt, tmp_path)
    assert path.name == "pred.zip"
    with zipfile.ZipFile(path) as z:
        assert z.namelist() == ["pred.json"]
        xyz, vv = json.loads(z.read("pred.json"))
    xyz, vv = np.asarray(xyz), np.asarray(vv)
    assert (xyz[..., 2] < 0).all() and (vv[..., 2] < 0).all()  # OpenGL: the camera looks down -z
    mano = convert_keypoints(__import__("torch").as_tensor(joints), "openpose", "mano").numpy()
    assert np.allclose(xyz, mano * [1, -1, -1])
    assert np.allclose(xyz[:, 0], joints[:, 0] * [1, -1, -1])  # the wrist first in both orders
    assert check_submission(path, fmt) == []


def test_the_published_sizes_are_checked(tmp_path):
    assert {k: v["count"] for k, v in submission.FORMATS.items()} == {"freihand": 3960, "ho3d_v2": 11524,
                                                                        "ho3d_v3": 20137}
    joints, verts = _predictions(3)
    path = write_submission(joints, verts[:, :500], "freihand", tmp_path)
    problems = " ".join(check_submission(path, "freihand"))
    assert "3960" in problems and "778" in problems
