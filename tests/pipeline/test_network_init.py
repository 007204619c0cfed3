"""`init="network"`: the pipeline's fast path starts the fit from the landmark network's prediction."""

from __future__ import annotations

from importlib import resources

import numpy as np
import pytest
import torch

from handrecon.detect.types import HandDetection
from handrecon.hand.model import HandModel
from handrecon.io import InputError, SettingError, load_config, save_config
from handrecon.nn.landmark_init import LandmarkInitNet, save_head
from handrecon.pipeline.config import PipelineConfig
from handrecon.pipeline.network_init import NetworkInitializer, bundled_checkpoint

DEMO = str(resources.files("handrecon.assets") / "demo_hand.jpg")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A small untrained network's head: the plumbing does not depend on the weights."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("init") / "head.safetensors"
    opts = {"head_opts": {"hidden": 32, "layers": 2}}
    save_head(LandmarkInitNet(**opts), path, opts, {"seed": 0})
    return str(path)


@pytest.fixture(scope="module")
def models():
    return {s: HandModel(side=s) for s in ("right", "left")}


def test_settings_are_checked_and_round_trip_through_yaml(tmp_path):
    with pytest.raises(SettingError, match="init"):
        PipelineConfig(init="magic")
    with pytest.raises(SettingError, match="network_iterations"):
        PipelineConfig(network_iterations=0)
    with pytest.raises(SettingError, match="network_shape"):
        PipelineConfig(network_shape="magic")
    assert PipelineConfig().network_shape == "aligned"
    cfg = PipelineConfig(init="network", init_checkpoint="/some/where.safetensors", network_iterations=2,
                         network_shape="detector")
    assert load_config(PipelineConfig, save_config(cfg, tmp_path / "p.yaml")) == cfg


def test_photos_start_from_the_network_and_video_tracks_from_ik_unless_told(tmp_path, monkeypatch):
    from handrecon import api
    from handrecon.pipeline.config import VideoSettings

    cfg = PipelineConfig()
    assert (cfg.init, cfg.video.init) == ("network", "ik")
    with pytest.raises(SettingError, match="video.init"):
        PipelineConfig(video=VideoSettings(init="magic"))
    cfg = PipelineConfig(video=VideoSettings(init="network"))
    assert load_config(PipelineConfig, save_config(cfg, tmp_path / "p.yaml")) == cfg
    # an explicit start of HandReconstructor (and so of --init) applies to both; no pipeline is built here
    monkeypatch.setattr(api, "ImageReconstructor", lambda models, config: None)
    for given, expect in ((None, ("network", "ik")), ("ik", ("ik", "ik")), ("network", ("network", "network"))):
        c = api.HandReconstructor(init=given).config
        assert (c.init, c.video.init) == expect


def test_a_missing_checkpoint_is_a_one_line_error(tmp_path):
    from handrecon.api import HandReconstructor

    with pytest.raises(InputError, match="missing.safetensors") as e:
        HandReconstructor(config=PipelineConfig(init="network", init_checkpoint=str(tmp_path / "missing.safetensors")))
    assert "\n" not in str(e.value)


def test_a_left_hand_is_the_mirror_of_the_right_hand_of_the_mirrored_detection(models, checkpoint):
    init = NetworkInitializer(models, checkpoint)
    rng = np.random.default_rng(0)
    K = torch.tensor([[500.0, 0, 320], [0, 500.0, 240], [0, 0, 1]], dtype=torch.float64)
    with torch.no_grad():
        j = models["left"](global_orient=torch.tensor([[0.3, -0.4, 0.2]]), transl=torch.tensor([[0.02, 0.0, 0.4]]),
                           skin_mesh=False).joints[0].double()
    uv = (j @ K.T)[:, :2] / j[:, 2:]
    world = (j - j.mean(0)).numpy() + rng.normal(0, 0.001, (21, 3))
    left = HandDetection(keypoints=uv.numpy(), world=world, handedness="left", handedness_score=0.9)
    mirrored = HandDetection(keypoints=np.stack([2 * 320 - uv[:, 0].numpy(), uv[:, 1].numpy()], 1),
                             world=world * [-1, 1, 1], handedness="right", handedness_score=0.9)
    (pl, sl, nl), (pr, sr, nr) = init([left, mirrored], K)
    jl = models["left"](**pl.model_inputs(), skin_mesh=False).joints[0]
    jr = models["right"](**pr.model_inputs(), skin_mesh=False).joints[0]
    assert torch.allclose(jl, jr * torch.tensor([-1.0, 1, 1]).to(jr), atol=1e-4)
    assert np.allclose(sl, sr) and sl.shape == (21,)
    # the joints it reports are those of its parameters on each side's model
    assert np.allclose(nl, jl.double().numpy(), atol=1e-4) and np.allclose(nr, jr.double().numpy(), atol=1e-4)


def test_network_start_gives_consistent_plausible_hands_with_few_steps(checkpoint):
    from handrecon.api import HandReconstructor

    rec = HandReconstructor(detector="fast", texture=False,
                            config=PipelineConfig(init="network", init_checkpoint=checkpoint))
    assert rec.pipeline.fitter.settings.iterations == 3
    hands = rec.reconstruct(DEMO)
    rec.close()
    assert hands
    for h in hands:
        assert h.initial["method"] == "network" and len(h.initial["joint_sigma_3d_m"]) == 21
        out = HandModel(side=h.handedness).double()(**{k: v.double() for k, v in h.params.model_inputs().items()})
        assert np.allclose(out.joints[0].numpy(), h.joints_3d, atol=1e-6)
        assert np.allclose(out.vertices[0].numpy(), h.vertices, atol=1e-6)
        assert h.plausibility.plausible
        assert h.to_dict()["init"]["method"] == "network"


def test_the_bundled_checkpoint_loads_with_its_provenance(models):
    if not bundled_checkpoint().is_file():
        pytest.skip("no bundled landmark-network checkpoint")
    init = NetworkInitializer(models)
    for key in ("data", "recipe", "command", "git_commit", "seed", "metrics", "hand_model_asset_sha256"):
        assert key in init.provenance
    assert bundled_checkpoint().stat().st_size < 50e6


def test_a_checkpoint_of_another_asset_version_warns(models, tmp_path):
    path = tmp_path / "old.safetensors"
    opts = {"head_opts": {"hidden": 8, "layers": 1}}
    save_head(LandmarkInitNet(**opts), path, opts, {"hand_model_asset_sha256": "0" * 64})
    with pytest.warns(UserWarning, match="another version"):
        NetworkInitializer(models, path)


def test_the_network_runs_on_one_torch_thread_with_the_same_starts(models, checkpoint, monkeypatch):
    init = NetworkInitializer(models, checkpoint)
    K = torch.tensor([[500.0, 0, 320], [0, 500.0, 240], [0, 0, 1]], dtype=torch.float64)
    with torch.no_grad():
        j = models["right"](global_orient=torch.tensor([[0.3, -0.4, 0.2]]), transl=torch.tensor([[0.02, 0.0, 0.4]]),
                            skin_mesh=False).joints[0].double()
    uv = ((j @ K.T)[:, :2] / j[:, 2:]).numpy()
    det = HandDetection(keypoints=uv, world=(j - j.mean(0)).numpy(), handedness="right", handedness_score=0.9)
    seen = []
    forward = init.net.forward
    monkeypatch.setattr(init.net, "forward", lambda *a, **k: seen.append(torch.get_num_threads()) or forward(*a, **k))
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        (p2, s2, _), = init([det], K)
        assert seen == [1] and torch.get_num_threads() == 2
        torch.set_num_threads(1)
        (p1, s1, _), = init([det], K)
    finally:
        torch.set_num_threads(before)
    for a, b in zip(p2.model_inputs().values(), p1.model_inputs().values(), strict=True):
        assert (a is None and b is None) or torch.equal(a, b)
    assert np.array_equal(s2, s1)


@pytest.mark.parametrize("shape", ["aligned", "network", "detector"])
def test_the_landmark_term_of_a_network_start_holds_the_chosen_shape(checkpoint, shape):
    """"aligned": the network's joints turned about their wrist onto the detector's placed landmarks;
    "network": the network's joints; "detector": the placed landmarks (what an ik start holds)."""
    from handrecon.api import HandReconstructor
    from handrecon.fit.initialize import shape_turned_onto

    K = torch.tensor([[500.0, 0, 320], [0, 500.0, 240], [0, 0, 1]], dtype=torch.float64)
    cfg = PipelineConfig(init="network", init_checkpoint=checkpoint, network_shape=shape)
    rec = HandReconstructor(detector="fast", texture=False, config=cfg)
    model = rec.models["right"]
    with torch.no_grad():
        j = model(global_orient=torch.tensor([[0.3, -0.4, 0.2]]), transl=torch.tensor([[0.02, 0.0, 0.4]]),
                  skin_mesh=False).joints[0].double()
    uv = ((j @ K.T)[:, :2] / j[:, 2:]).numpy()
    det = HandDetection(keypoints=uv, world=(j - j.mean(0)).numpy() * 1.1, handedness="right", handedness_score=0.9)
    pipe = rec.pipeline
    (ob,), (start,) = pipe.observations(pipe.with_sigma([det]), K)
    (ik_ob,), _ = HandReconstructor(detector="fast", texture=False, config=PipelineConfig(init="ik")).pipeline \
        .observations(pipe.with_sigma([det]), K)
    placed = ik_ob.world.numpy()  # the detector's landmarks placed in the camera
    with torch.no_grad():
        net = model(**start.model_inputs(), skin_mesh=False).joints[0].double().numpy()
    expect = {"aligned": shape_turned_onto(net, placed), "network": net, "detector": placed}[shape]
    assert np.allclose(ob.world.numpy(), expect, atol=1e-4)
    rec.close()
