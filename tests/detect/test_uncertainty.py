"""Per-joint 2D uncertainty: single-pass difficulty features, the sigma model and its calibration."""

import numpy as np
import pytest

from handrecon.detect.types import HandDetection
from handrecon.detect.uncertainty import (
    FEATURES,
    SigmaCalibration,
    SigmaModel,
    keypoint_sigma,
    sigma_features,
    sigma_from_features,
)
from handrecon.hand.keypoints import OPENPOSE_PARENTS


def _flat_hand(score: float = 1.0) -> HandDetection:
    """A hand seen flat on: 2D keypoints are the world landmarks' x, y at 1000 px per metre."""
    rng = np.random.default_rng(0)
    world = np.zeros((21, 3))
    for j in range(1, 21):
        step = np.array([rng.uniform(-0.3, 0.3), -1.0, 0.0])
        world[j] = world[OPENPOSE_PARENTS[j]] + 0.025 * step / np.linalg.norm(step)
    kp = world[:, :2] * 1000 + 300
    return HandDetection(
        keypoints=kp, world=world, handedness="right", handedness_score=score, relative_depth=np.zeros(21)
    )


def test_a_flat_unoccluded_hand_has_no_difficulty():
    f = sigma_features(_flat_hand())
    assert f.shape == (21, len(FEATURES))
    np.testing.assert_allclose(f, 0.0, atol=1e-12)


def test_features_flag_hidden_joints_foreshortened_bones_and_doubt():
    d = _flat_hand(score=0.7)
    d.keypoints[20] = d.keypoints[19] + 0.25 * (d.keypoints[20] - d.keypoints[19])  # pinky tip points at us
    d.relative_depth = np.zeros(21)
    d.relative_depth[8] = 0.5 * d.size_px  # the index tip lies far behind the hand
    f = sigma_features(d)
    assert f[8, 0] == pytest.approx(0.5) and np.all(np.delete(f[:, 0], 8) == 0)
    assert f[20, 1] == pytest.approx(0.75) and np.all(f[:20, 1] < 1e-9)
    np.testing.assert_allclose(f[:, 2], 0.3)


def test_sigma_grows_with_difficulty_and_spread():
    model = SigmaModel(floor=(0.04,) * 21, feature_weights=(1.0, 2.0, 0.5), spread_gain=2.0)
    feats = np.zeros((21, 3))
    base = sigma_from_features(np.float64(200.0), feats, model)
    np.testing.assert_allclose(base, 8.0)  # 0.04 x 200 px
    feats[3] = [0.5, 0.0, 0.0]
    harder = sigma_from_features(np.float64(200.0), feats, model)
    assert harder[3] == pytest.approx(8.0 * np.exp(0.5)) and np.allclose(np.delete(harder, 3), 8.0)
    spread = np.zeros(21)
    spread[5] = 3.0
    with_spread = sigma_from_features(np.float64(200.0), feats, model, spread)
    assert with_spread[5] == pytest.approx(np.hypot(8.0, 6.0))


def test_calibration_has_both_variants_with_positive_floors():
    calib = SigmaCalibration.load()
    assert "calibrate_sigma" in calib.source
    for model in (calib.single_pass, calib.tta):
        assert len(model.floor) == 21 and min(model.floor) > 0
        assert len(model.feature_weights) == len(FEATURES)
    assert calib.single_pass.spread_gain == 0.0 and calib.tta.spread_gain > 0
    d = _flat_hand()
    assert np.all(keypoint_sigma(d, calib) > 0)
    d.tta_spread = np.full(21, 5.0)
    assert np.all(np.isfinite(keypoint_sigma(d, calib)))
