"""Robust 2D data term: IRLS weights of the kernels (known values) and their effect on a fit with an outlier."""

import numpy as np
import pytest
import torch

from handrecon.fit.energy import FitWeights, robust_keypoint_weights
from handrecon.fit.initialize import inverse_kinematics
from handrecon.fit.lm import levenberg_marquardt
from handrecon.fit.refine import HandFitter, HandObservation
from handrecon.geometry.camera import intrinsics_from_fov, project_points
from handrecon.hand import HandModel
from handrecon.io.errors import SettingError
from tests.fit.posed_hands import posed_hand

F64 = torch.float64


def test_huber_weight_is_one_in_its_quadratic_zone_and_c_over_u_beyond():
    u = np.array([0.0, 0.5, 1.99, 2.0, 4.0, 10.0])
    np.testing.assert_allclose(robust_keypoint_weights(u, "huber", 2.0), [1, 1, 1, 1, 0.5, 0.2])


def test_cauchy_and_geman_mcclure_known_values_and_falling():
    u = np.array([0.0, 1.0, 2.0, 6.0])
    np.testing.assert_allclose(robust_keypoint_weights(u, "cauchy", 2.0), [1, 0.8, 0.5, 0.1])
    np.testing.assert_allclose(robust_keypoint_weights(u, "geman_mcclure", 2.0), [1, 0.64, 0.25, 0.01])
    grid = np.linspace(0, 20, 201)
    for k in ("huber", "cauchy", "geman_mcclure"):
        w = robust_keypoint_weights(grid, k, 1.0)
        assert (np.diff(w) <= 0).all() and w[0] == 1 and w[-1] < 0.06
    np.testing.assert_array_equal(robust_keypoint_weights(grid, "none", 1.0), np.ones_like(grid))


def test_unknown_kernel_or_bad_scale_is_a_setting_error():
    with pytest.raises(SettingError, match="keypoint_kernel"):
        robust_keypoint_weights(np.ones(3), "tukey", 2.0)
    with pytest.raises(SettingError, match="keypoint_kernel_scale"):
        robust_keypoint_weights(np.ones(3), "huber", 0.0)


def test_lm_with_reweighting_finds_the_huber_estimate_of_a_location():
    # data 0, 0, 0, 0, 10; Huber c = 1: four inliers pull with -m each, the outlier with c, so m = 1/4
    # (least squares: the mean, 2)
    data = torch.tensor([0.0, 0.0, 0.0, 0.0, 10.0], dtype=F64)
    w = {"w": np.ones(5)}

    def res(x, ids):
        return (x - data) * torch.from_numpy(np.sqrt(w["w"]))

    def reweight(x):
        w["w"] = robust_keypoint_weights((x - data).abs().numpy()[0], "huber", 1.0)

    x, _ = levenberg_marquardt(res, torch.zeros(1, 1, dtype=F64), iterations=50, reweight=reweight)
    assert abs(float(x) - 0.25) < 1e-6
    w["w"] = np.ones(5)
    x, _ = levenberg_marquardt(res, torch.zeros(1, 1, dtype=F64), iterations=50)
    assert abs(float(x) - 2.0) < 1e-6


def _hand_observation():
    model = HandModel(side="right", dtype=F64)
    g = torch.Generator().manual_seed(5)
    out, _ = posed_hand(model, g, 0.5)
    K = intrinsics_from_fov(640, 480, 60.0, dtype=F64)
    kp = project_points(out.joints, K)[0] + 3.0 * torch.randn(21, 2, generator=g, dtype=F64)
    kp[0] += torch.tensor([30.0, -20.0], dtype=F64)  # the wrist 36 px off: 18 sigma
    init = inverse_kinematics(model, out.joints + 0.005 * torch.randn(1, 21, 3, generator=g, dtype=F64))
    return model, K, HandObservation("right", kp, torch.full((21,), 2.0, dtype=F64), world=out.joints[0]), init


def test_kernel_wider_than_every_error_fits_as_without_it_and_a_narrow_one_moves_the_fit():
    model, K, obs, init = _hand_observation()

    def fit(kernel, c=2.0):
        fitter = HandFitter({"right": model}, FitWeights(keypoint_kernel=kernel, keypoint_kernel_scale=c))
        res = fitter.fit([obs], K, [init])[0]
        return project_points(model(**res.params.model_inputs()).joints, K)[0]

    plain = fit("none")
    torch.testing.assert_close(fit("huber", 1e6), plain, atol=1e-9, rtol=0)  # every weight 1
    moved = (fit("cauchy", 1.0) - plain).norm(dim=-1)
    assert moved.max() > 1.0  # pixels: the down-weighted wrist (18 sigma off) is let go
    # the kernel on the fingertips only: the wrist keeps its full weight, the fit stays near the plain one
    tips = FitWeights(keypoint_kernel="cauchy", keypoint_kernel_scale=1.0, keypoint_kernel_joints=(4, 8, 12, 16, 20))
    res = HandFitter({"right": model}, tips).fit([obs], K, [init])[0]
    wrist_moved = (project_points(model(**res.params.model_inputs()).joints, K)[0, 0] - plain[0]).norm()
    assert wrist_moved < 0.5 * moved[0]
