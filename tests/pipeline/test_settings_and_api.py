"""Settings: one checked dataclass config (YAML round trip), keywords that override without mutating, the
video path keeping the caller's fit settings, the API's K= checks, and plausibility in front of the camera."""

from __future__ import annotations

import dataclasses
import json
from importlib import resources

import numpy as np
import pytest
import torch

from handrecon.eval.plausibility import joint_limit_violation, penetration_flags
from handrecon.fit.refine import FitSettings
from handrecon.hand.tolerances import JOINT_LIMIT_TOLERANCE_DEG, PENETRATION_TOLERANCE_M, PENETRATION_TOLERANCE_MM
from handrecon.io import InputError, SettingError, config_from_yaml, load_config, save_config
from handrecon.pipeline.config import PipelineConfig, VideoSettings
from handrecon.pipeline.outputs import image_record
from handrecon.pipeline.results import Plausibility
from handrecon.priors.penetration import D_TOL


def test_pipeline_config_round_trips_through_yaml(tmp_path):
    cfg = PipelineConfig(max_hands=3, tta_passes=2, fit=FitSettings(iterations=5, min_sigma_px=0.75),
                         video=VideoSettings(iterations=2))  # fmt: skip
    path = save_config(cfg, tmp_path / "pipeline.yaml")
    text = path.read_text()
    assert "max_hands: 3" in text and "min_sigma_px: 0.75" in text
    back = load_config(PipelineConfig, path)
    assert back == cfg and isinstance(back.fit, FitSettings)
    # a partial file overrides only what it names
    part = config_from_yaml(PipelineConfig, "fit:\n  iterations: 3\n")
    assert part == dataclasses.replace(PipelineConfig(), fit=FitSettings(iterations=3))
    # the fit's own settings on their own (training recipes and the pipeline share them)
    fit = FitSettings(iterations=3, penetration_rounds=1)
    assert load_config(FitSettings, save_config(fit, tmp_path / "fit.yaml")) == fit


@pytest.mark.parametrize(
    "text, named",
    [("max_hands: 0\n", "max_hands"), ("no_such_setting: 1\n", "no_such_setting"), ("fit:\n  iterations: many\n", "")],
)
def test_bad_yaml_configs_are_refused(text, named):
    with pytest.raises(SettingError) as info:
        config_from_yaml(PipelineConfig, text, "recipe.yaml")
    assert named in str(info.value) and "\n" not in str(info.value)


def test_a_missing_config_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="cannot read"):
        load_config(PipelineConfig, tmp_path / "none.yaml")


@pytest.mark.parametrize(
    "kwargs, named",
    [({"max_hands": 0}, "max_hands"), ({"max_hands": -1}, "max_hands"), ({"max_hands": 2.5}, "max_hands"),
     ({"min_detection_confidence": 2.0}, "min_detection_confidence"),
     ({"min_detection_confidence": float("nan")}, "min_detection_confidence"), ({"tta_passes": -1}, "tta_passes"),
     ({"video": VideoSettings(iterations=0)}, "video"), ({"fit": FitSettings(iterations=0)}, "fit.iterations"),
     ({"video": VideoSettings(convergence_tolerance=1.0)}, "video.convergence_tolerance"),
     ({"video": VideoSettings(convergence_tolerance=float("nan"))}, "video.convergence_tolerance")],
)  # fmt: skip
def test_settings_out_of_range_are_refused_when_the_config_is_made(kwargs, named):
    with pytest.raises(SettingError) as info:
        PipelineConfig(**kwargs)
    assert info.value.path == named


def test_the_penetration_and_joint_limit_tolerances_have_one_source():
    assert pytest.approx(PENETRATION_TOLERANCE_M * 1000) == PENETRATION_TOLERANCE_MM
    assert D_TOL == PENETRATION_TOLERANCE_M and FitSettings().penetration_trigger == PENETRATION_TOLERANCE_M
    cfg = PipelineConfig()
    assert cfg.penetration_tolerance_mm == PENETRATION_TOLERANCE_MM
    assert cfg.joint_limit_tolerance_deg == JOINT_LIMIT_TOLERANCE_DEG
    # the metrics' defaults are the same numbers: 6 mm is not a penetration, 6.01 mm is
    depth = torch.tensor([PENETRATION_TOLERANCE_M, PENETRATION_TOLERANCE_M + 1e-5])
    assert penetration_flags(depth).tolist() == [False, True]
    assert joint_limit_violation(torch.full((1, 15, 3), np.radians(JOINT_LIMIT_TOLERANCE_DEG - 0.1))).rate == 0


def test_a_hand_not_in_front_of_the_camera_is_never_plausible():
    ok = dict(max_joint_limit_violation_deg=0.0, joints_beyond_tolerance=[], joint_limit_tolerance_deg=5.0,
              penetration_depth_mm=0.0, penetration_tolerance_mm=6.0)  # fmt: skip
    assert Plausibility(**ok, nearest_depth_m=0.4).plausible
    assert Plausibility(**ok, nearest_depth_m=None).plausible  # not known: judged on the rest
    for z in (-1.9e6, -0.01, 0.0, 0.005, float("nan")):
        p = Plausibility(**ok, nearest_depth_m=z)
        assert not p.in_front_of_camera and not p.plausible, z


def test_intrinsics_are_written_at_full_precision():
    K = np.array([[443.4050067376326, 0, 256.0], [0, 443.4050067376326, 256.0], [0, 0, 1]])
    rec = json.loads(json.dumps(image_record("x.jpg", 512, 512, K, [])))
    assert rec["camera"]["K"] == K.tolist()
    tiny = K.copy()
    tiny[0, 0] = tiny[1, 1] = 0.00004  # rounded to 4 decimals this read fx = 0.0
    assert json.loads(json.dumps(image_record("x.jpg", 512, 512, tiny, [])))["camera"]["K"][0][0] == 0.00004


# --- with the reconstructor -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_rgb():
    from handrecon.io import load_image

    with resources.as_file(resources.files("handrecon.assets") / "demo_hand.jpg") as p:
        return load_image(p).rgb


def test_keywords_override_only_what_is_passed_and_never_mutate_the_config():
    from handrecon.api import HandReconstructor

    cfg = PipelineConfig(max_hands=4, texture=False, fit=FitSettings(min_sigma_px=0.8))
    rec = HandReconstructor(config=cfg, tta_passes=1)
    try:
        assert rec.config.max_hands == 4 and rec.config.tta_passes == 1 and rec.config.fit.min_sigma_px == 0.8
        assert cfg.tta_passes == 0 and cfg.max_hands == 4  # the caller's object is untouched
        assert rec.pipeline.config is rec.config
        # the video path keeps the caller's fit settings, changing only what video needs
        from handrecon.pipeline.video import VideoReconstructor

        video = VideoReconstructor(rec.pipeline)
        try:
            s = video.image.fitter.settings
            assert s.min_sigma_px == 0.8 and s.iterations == cfg.video.iterations and not s.test_penetration
            assert s.convergence_tolerance == cfg.video.convergence_tolerance
            assert video.image.config.weights.temporal == cfg.video.temporal_weight
        finally:
            video.close()
    finally:
        rec.close()


def test_api_refuses_settings_out_of_range_with_one_error_type():
    from handrecon.api import HandReconstructor

    for kwargs in ({"max_hands": 0}, {"min_detection_confidence": 2.0}, {"fx": 1e-9}, {"fov": 179.999}):
        with pytest.raises(SettingError):
            HandReconstructor(**kwargs)


@pytest.mark.parametrize(
    "K, reason",
    [(np.zeros((3, 3)), "[[fx"), (np.full((3, 3), np.nan), "NaN"), (np.eye(2), "3x3"), (np.eye(3), "field of view")],
)
def test_api_K_gets_the_same_checks(reconstructor, demo_rgb, K, reason):
    """zeros and NaN raised numpy's LinAlgError, a 2x2 cv2.error, the identity put the hand 5.5e6 m away."""
    with pytest.raises(SettingError) as info:
        reconstructor.reconstruct(demo_rgb, K=K)
    assert str(info.value).startswith("K: ") and reason in info.value.reason


def test_a_reconstructed_hand_reports_its_depth_and_full_precision_K(reconstructor, demo_rgb):
    truth = json.loads((resources.files("handrecon.assets") / "demo_hand_truth.json").read_text())
    K = np.asarray(truth["K"], dtype=np.float64)
    hands = reconstructor.reconstruct(demo_rgb, K=K)
    assert len(hands) == 1
    h = hands[0]
    assert h.plausibility.nearest_depth_m == pytest.approx(h.vertices[:, 2].min())
    assert h.plausibility.in_front_of_camera and h.plausibility.plausible
    assert h.to_dict()["camera"]["K"] == K.tolist()
