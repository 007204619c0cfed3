"""The fast path's landmark network: translation on the rays, shapes and gradients, outputs that the hand
model reproduces from the predicted parameters, the data's mirroring and roll, the shipped-file format."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from handrecon.data.detected_synthetic import DetectedSyntheticDataset, mirror_keypoints
from handrecon.geometry.camera import project_points
from handrecon.hand.model import HandModel
from handrecon.io.errors import InputError
from handrecon.nn.landmark_init import LandmarkInitNet, load_head, normalised_coordinates, rays_translation, save_head
from handrecon.train.data import collate
from tests.nn.landmark_records import fake_records


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return LandmarkInitNet(head_opts={"hidden": 32, "layers": 2})


@pytest.fixture(scope="module")
def batch():
    ds = DetectedSyntheticDataset(fake_records(6, seed=3))
    return collate([ds[i] for i in range(len(ds))])


def test_rays_translation_recovers_the_translation_of_exact_rays():
    g = torch.Generator().manual_seed(0)
    joints = torch.randn(3, 21, 3, generator=g, dtype=torch.float64) * 0.04
    t = torch.tensor([[0.05, -0.02, 0.4], [0.0, 0.1, 0.7], [-0.1, 0.0, 0.3]], dtype=torch.float64)
    K = torch.tensor([[300.0, 0, 100], [0, 310.0, 90], [0, 0, 1]], dtype=torch.float64).expand(3, 3, 3)
    rays = normalised_coordinates(project_points(joints + t[:, None], K), K)
    assert torch.allclose(rays_translation(joints, rays), t, atol=1e-7)


def test_shapes_and_gradients(net, batch):
    net.train()
    p = net.forward_batch(batch)
    B = batch["K"].shape[0]
    assert p.joints.shape == (B, 21, 3) and p.keypoints_2d.shape == (B, 21, 2) and p.hand_pose.shape == (B, 15, 3, 3)
    assert p.joint_variance.shape == (B, 21) and (p.joint_variance > 0).all() and p.euler_angles.shape == (B, 15, 3)
    (p.joints.square().sum() + p.joint_variance.sum()).backward()
    grads = [q.grad for n, q in net.named_parameters() if n.startswith(("mlp.", "out."))]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)
    net.zero_grad()


def test_outputs_are_the_hand_model_of_the_predicted_parameters(net, batch):
    with torch.no_grad():
        p = net.eval().forward_batch(batch)
        out = HandModel(side="right")(global_orient=p.global_orient, hand_pose=p.hand_pose, betas=p.betas,
                                      transl=p.transl)
    assert torch.allclose(out.joints, p.joints, atol=1e-5)
    assert torch.allclose(out.vertices, p.vertices, atol=1e-5)
    assert torch.allclose(project_points(out.joints, batch["K"]), p.keypoints_2d, atol=1e-2)
    # the angles are the anatomical angles of the local rotations
    assert torch.allclose(net.anatomy.euler_to_rotations(p.euler_angles), p.hand_pose, atol=1e-5)


def test_the_output_follows_the_palm_orientation_of_the_world_landmarks(net, batch):
    """Turning the world landmarks turns the start's orientation (R0 is read from them)."""
    c, s = math.cos(0.7), math.sin(0.7)
    R = torch.tensor([[c, 0, s], [0, 1.0, 0], [-s, 0, c]])
    with torch.no_grad():
        a = net.eval()(batch["det_keypoints"], batch["det_world"], batch["K"], with_vertices=False)
        b = net(batch["det_keypoints"], batch["det_world"] @ R.T, batch["K"], with_vertices=False)
    assert not torch.allclose(a.global_orient, b.global_orient, atol=1e-3)


def _model_joints(t: dict, side: str = "right") -> torch.Tensor:
    m = HandModel(side=side).double()
    return m(global_orient=t["global_orient"][:, 0].double(), hand_pose=t["hand_pose"][:, 0].double(),
             betas=t["betas"][:, 0].double(), transl=t["transl"][:, 0].double(), skin_mesh=False).joints


@pytest.mark.parametrize("roll", [0.0, 40.0])
def test_records_are_right_hands_whose_labels_agree(roll):
    """Mirrored (left) and rolled records: the labelled parameters give the labelled joints with the right
    model, the joints project onto the labelled 2D keypoints, and the detections moved with them."""
    np.random.seed(0)
    rec = fake_records(6, seed=5, left_share=0.5)
    assert rec["det_left"].any() and not rec["det_left"].all()
    ds = DetectedSyntheticDataset(rec, roll_deg=roll)
    b = collate([ds[i] for i in range(len(ds))])
    assert torch.allclose(_model_joints(b).float(), b["joints_3d"][:, 0], atol=2e-4)
    uv = project_points(b["joints_3d"][:, 0], b["K"])
    assert torch.allclose(uv, b["keypoints_2d"][:, 0, :, :2], atol=1e-2)
    assert (b["det_keypoints"] - uv).norm(dim=-1).mean() < 5.0  # the fake detector's 1-pixel noise, moved along
    w, j = b["det_world"] - b["det_world"][:, :1], b["joints_3d"][:, 0] - b["joints_3d"][:, 0, :1]
    assert (w - j).norm(dim=-1).mean() < 0.01


def test_mirror_keypoints_reflects_about_the_principal_point():
    K = np.array([[200.0, 0, 90], [0, 200.0, 60], [0, 0, 1]])
    assert np.allclose(mirror_keypoints(np.array([[100.0, 5.0], [90.0, 7.0]]), K), [[80.0, 5.0], [90.0, 7.0]])


def test_head_round_trips_and_bad_files_are_one_line_errors(net, batch, tmp_path):
    path = tmp_path / "head.safetensors"
    save_head(net, path, {"head_opts": {"hidden": 32, "layers": 2}}, {"seed": 0})
    back, prov = load_head(path)
    assert prov == {"seed": 0}
    with torch.no_grad():
        a, b = net.eval().forward_batch(batch), back.forward_batch(batch)
    assert torch.allclose(a.joints, b.joints)
    with pytest.raises(InputError, match="no landmark-initialiser checkpoint") as e:
        load_head(tmp_path / "missing.safetensors")
    assert "\n" not in str(e.value)
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00garbage" * 10)
    with pytest.raises(InputError, match="not a usable") as e:
        load_head(bad)
    assert "\n" not in str(e.value)


def test_the_depth_correction_moves_the_hand_along_its_ray(batch):
    torch.manual_seed(0)
    net = LandmarkInitNet(head_opts={"hidden": 32, "layers": 2, "predict_depth": True}).eval()
    with torch.no_grad():
        a = net.forward_batch(batch, with_vertices=False)
        net.out.bias[-1] = math.log(1.25)
        b = net.forward_batch(batch, with_vertices=False)
    assert torch.allclose(b.transl, 1.25 * a.transl, rtol=1e-5)
    # the hand model's origin keeps its place in the picture; the joints keep their shape
    assert torch.allclose(b.transl[:, :2] / b.transl[:, 2:], a.transl[:, :2] / a.transl[:, 2:], atol=1e-6)
    assert torch.allclose(b.joints - b.transl[:, None], a.joints - a.transl[:, None], atol=1e-6)


def test_the_sigma_scale_travels_with_the_head_and_old_files_load_without_it(net, batch, tmp_path):
    from safetensors.torch import save_file

    with torch.no_grad():
        before = net.eval().forward_batch(batch, with_vertices=False).joint_variance
        net.sigma_scale.fill_(2.0)
        path = tmp_path / "scaled.safetensors"
        save_head(net, path, {"head_opts": {"hidden": 32, "layers": 2}}, {})
        net.sigma_scale.fill_(1.0)
        back, _ = load_head(path)
        assert torch.allclose(back.forward_batch(batch, with_vertices=False).joint_variance, 4 * before)
        # a file of the first shipped form: head weights only, no sigma scale -> scale 1
        old = tmp_path / "old.safetensors"
        save_file({k: v for k, v in net.state_dict().items() if k.startswith(("mlp.", "out."))}, str(old),
                  metadata={"options": '{"head_opts": {"hidden": 32, "layers": 2}}', "provenance": "{}"})
        first, _ = load_head(old)
        assert torch.equal(first.sigma_scale, torch.ones(21))
        assert torch.allclose(first.forward_batch(batch, with_vertices=False).joint_variance, before)


def test_each_hand_of_a_scene_gets_its_own_detection():
    from handrecon.data.detected_synthetic import _match

    uv = np.stack([np.linspace(0, 40, 21), np.linspace(0, 30, 21)], 1)
    dets = [uv + 2.0, uv + [100.0, 0.0]]
    assert _match(dets, uv) == 0
    assert _match(dets, uv + [100.0, 0.0], taken={0}) == 1
    assert _match(dets, uv, taken={0}) is None  # the other hand's detection is too far away
    assert _match([], uv) is None


def test_sources_combine_cached_configurations_and_old_chunks_read_as_primary_hands(tmp_path, monkeypatch):
    from handrecon.data import detected_synthetic as dsyn

    monkeypatch.setenv("HANDRECON_CACHE", str(tmp_path))
    for options, n, with_slot in (({}, 3, False), ({"two_hand_prob": 0.6}, 4, True)):
        config = dsyn.SynthConfig(**{**dsyn.DEFAULT_CONFIG, **options})
        folder = dsyn.cache_root() / dsyn.cache_key(config)
        folder.mkdir(parents=True)
        rec = fake_records(n, seed=n, left_share=0.0)
        rec["index"] = np.arange(n) + 10
        if with_slot:
            rec["slot"] = np.array([0, 1, 0, 1])
        np.savez(folder / "chunk_0000000000.npz", **rec)  # a chunk of the first form has no slot
    ds = dsyn.open_detected_synthetic(split="train", sources=[{"ranges": [[0, 250]]},
                                                              {"two_hand_prob": 0.6, "ranges": [[0, 250]]}])
    assert len(ds) == 7
    assert ds.records["slot"].tolist() == [0, 0, 0, 0, 1, 0, 1]
    only = dsyn.open_detected_synthetic(split="train", sources=[{"two_hand_prob": 0.6, "ranges": [[11, 2]]}])
    assert only.records["index"].tolist() == [11, 12]
