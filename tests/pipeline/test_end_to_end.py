"""End-to-end reconstruction on real photos: outputs, their schema, and mesh files that re-load."""

import json
import math

import numpy as np
import pytest
import torch
import trimesh
from scipy.spatial import cKDTree

from handrecon.cli import main as cli_main
from handrecon.geometry.camera import project_points
from handrecon.hand import HandModel
from handrecon.pipeline.outputs import write_image_outputs
from handrecon.pipeline.results import SCHEMA_VERSION

PHOTO = "labeled/panoptic/ex2_2.flv_000040_l.jpg"  # two hands


@pytest.fixture(scope="module")
def two_hands(devdata, reconstructor):
    path = devdata / PHOTO
    rgb, K, _ = reconstructor.load(path)
    return path, rgb, K, reconstructor.reconstruct(path)


def test_every_hand_is_found_with_its_handedness(two_hands):
    _, _, _, hands = two_hands
    assert sorted(h.handedness for h in hands) == ["left", "right"]


def test_hands_are_consistent_and_plausible(two_hands):
    _, rgb, K, hands = two_hands
    for h in hands:
        proj = project_points(torch.as_tensor(h.joints_3d)[None], torch.as_tensor(K))[0].numpy()
        np.testing.assert_allclose(proj, h.joints_2d, atol=1e-6)
        assert np.linalg.norm(h.joints_2d - h.keypoints_2d_detected, axis=1).mean() < 0.2 * np.ptp(h.joints_2d, 0).max()
        assert h.joints_3d[:, 2].min() > 0.1  # in front of the camera
        assert h.plausibility.plausible, h.plausibility
        assert np.all(np.isfinite(h.sigma_2d)) and np.all(h.sigma_2d > 0)
        model = HandModel(side=h.handedness, dtype=torch.float64)
        inputs = {k: torch.as_tensor(getattr(h, k))[None] for k in ("global_orient", "hand_pose", "betas", "transl")}
        out = model(**inputs, bone_scales=torch.as_tensor(h.bone_scales)[None])
        np.testing.assert_allclose(out.vertices[0].numpy(), h.vertices, atol=2e-5)  # parameters reproduce the mesh
        assert h.texture is not None and h.texture_valid.mean() > 0.05


def test_written_files_match_the_json(two_hands, tmp_path):
    path, rgb, K, hands = two_hands
    files = write_image_outputs(tmp_path, path.stem, str(path), rgb, hands, K.numpy())
    rec = json.loads(files.json.read_text())
    assert rec["schema_version"] == SCHEMA_VERSION and len(rec["hands"]) == len(hands)
    for i, hj in enumerate(rec["hands"]):
        joints = np.asarray(hj["joints_3d_m"])
        assert joints.shape == (21, 3) and len(hj["sigma_2d_px"]) == 21 and len(hj["params"]["hand_pose"]) == 15
        np.testing.assert_allclose(joints, hands[i].joints_3d, atol=1e-6)
        model = HandModel(side=hj["handedness"], dtype=torch.float64)
        reg = model.j_regressor.numpy()
        tips = model.tip_vertex_ids.numpy()
        stem = f"{path.stem}_hand{i}_{hj['handedness']}"
        for ext in ("obj", "ply", "glb"):
            mesh = trimesh.load(tmp_path / f"{stem}.{ext}", force="mesh", process=False)
            loaded = np.asarray(mesh.vertices)
            if ext == "glb":
                loaded = loaded @ np.diag([1.0, -1.0, -1.0])  # glTF's frame back to the camera frame
            # Exporters may split vertices at UV seams: map each model vertex to its copy in the file.
            dist, idx = cKDTree(loaded).query(hands[i].vertices)
            assert dist.max() < 1e-5, ext
            v = loaded[idx]
            # the file's vertices give back the JSON joints: the regressor (rest-pose joint definition, so
            # compare loosely) and exactly the fingertip vertices
            np.testing.assert_allclose(v[tips], joints[[4, 8, 12, 16, 20]], atol=1e-5)
            assert (
                np.linalg.norm(reg @ v - joints[[0, 5, 6, 7, 9, 10, 11, 17, 18, 19, 13, 14, 15, 1, 2, 3]], axis=1).max()
                < 0.02
            )
            assert len(mesh.faces) >= model.num_faces
    npz = np.load(files.npz)
    np.testing.assert_allclose(npz["hand0_joints_3d"], hands[0].joints_3d)
    assert files.overlay.is_file() and files.side.is_file()


def test_joint_angles_in_json_are_within_tolerance(two_hands):
    _, _, _, hands = two_hands
    for h in hands:
        assert h.plausibility.max_joint_limit_violation_deg <= h.plausibility.joint_limit_tolerance_deg
        assert np.all(np.abs(h.joint_angles_deg) < 180)
        assert not math.isnan(h.plausibility.max_joint_limit_violation_deg)


def test_cli_batch_goes_on_after_bad_inputs_and_lists_failures(devdata, tmp_path, capsys):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not an image")
    good = devdata / "labeled/onehand10k/1402.jpg"
    out = tmp_path / "out"
    code = cli_main(["reconstruct", str(bad), str(good), "--out", str(out), "-q", "--no-texture", "--formats", "ply"])
    err = capsys.readouterr().err
    assert code == 1
    assert f"{bad}:" in err and "failure" in err
    assert (
        (out / "1402.json").is_file() and (out / "1402_hand0_right.ply").is_file() or list(out.glob("1402_hand0_*.ply"))
    )
    assert not list(out.glob("broken*"))  # nothing partial for the bad input
