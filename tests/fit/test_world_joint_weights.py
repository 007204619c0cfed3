"""Per-joint weights of the 3D-landmark term (`FitWeights.world_joint_weights`): known factors, known energy
values and gradient signs, the analytic Jacobian against finite differences, and their effect on a fit."""

import numpy as np
import pytest
import torch

from handrecon.fit.energy import FitWeights, world_residuals, world_row_factors
from handrecon.fit.initialize import inverse_kinematics
from handrecon.fit.layout import ParameterLayout
from handrecon.fit.refine import HandFitter, HandObservation, _Residuals, _Targets, _TermScales
from handrecon.geometry.camera import intrinsics_from_fov, project_points
from handrecon.hand import HandModel
from handrecon.io.errors import SettingError
from tests.fit.posed_hands import posed_hand

F64 = torch.float64


def _weights(at: dict[int, float]) -> tuple[float, ...]:
    return tuple(at.get(j, 1.0) for j in range(21))


def test_row_factors_are_the_square_roots_repeated_over_x_y_z():
    assert world_row_factors(None) is None
    f = world_row_factors(_weights({5: 4.0, 9: 0.0}))
    assert f.shape == (63,)
    np.testing.assert_array_equal(f[15:18], [2.0, 2.0, 2.0])
    np.testing.assert_array_equal(f[27:30], [0.0, 0.0, 0.0])
    assert (np.delete(f, [15, 16, 17, 27, 28, 29]) == 1.0).all()


def test_weights_are_saved_and_loaded_with_the_fit_settings(tmp_path):
    from handrecon.io import load_config, save_config

    w = FitWeights(world_joint_weights=_weights({5: 0.0, 9: 0.5}))
    assert load_config(FitWeights, save_config(w, tmp_path / "weights.yaml")) == w


@pytest.mark.parametrize("bad", [(1.0,) * 20, _weights({3: -1.0}), _weights({3: float("nan")})])
def test_bad_weights_are_a_setting_error_naming_the_option(bad):
    with pytest.raises(SettingError, match="world_joint_weights"):
        world_row_factors(bad)
    with pytest.raises(SettingError, match="world_joint_weights"):
        _TermScales.from_weights(FitWeights(world_joint_weights=bad))


def _joints_and_landmarks():
    g = torch.Generator().manual_seed(3)
    world = 0.04 * torch.randn(1, 21, 3, generator=g, dtype=F64)
    joints = world.clone()
    joints[0, 9, 0] += 0.01  # the middle MCP 1 cm off its landmark along x
    return joints, world


def _energy(weights, joints, world):
    scales = _TermScales.from_weights(FitWeights(world_joint_weights=weights))
    r = scales.world_term(world_residuals(joints, world, torch.tensor([True])))
    return 0.5 * (r * r).sum()


def test_energy_scales_with_the_joints_weight_and_its_gradient_pulls_towards_the_landmark():
    joints, world = _joints_and_landmarks()
    e = {w: _energy(_weights({9: w}), joints, world) for w in (0.0, 1.0, 4.0)}
    # E(w) = E(other joints) + w E(joint 9): known differences
    torch.testing.assert_close(e[4.0] - e[1.0], 3 * (e[1.0] - e[0.0]), rtol=1e-12, atol=0)
    assert float(e[1.0] - e[0.0]) > 0
    torch.testing.assert_close(_energy(None, joints, world), e[1.0], rtol=0, atol=0)  # None = all 1
    grads = {}
    for w in (0.0, 1.0, 4.0):
        J = joints.clone().requires_grad_(True)
        _energy(_weights({9: w}), J, world).backward()
        grads[w] = float(J.grad[0, 9, 0])
    # positive: lowering x (towards the landmark) lowers the energy; the pull grows with the weight
    assert 0 < grads[1.0] < grads[4.0]
    assert abs(grads[0.0]) < 0.05 * grads[1.0]  # only the size normalisation's share is left


def test_weighted_analytic_jacobian_equals_finite_differences_and_the_numpy_rows_the_torch_ones():
    models = {"right": HandModel(side="right", dtype=F64)}
    fitter = HandFitter(models, FitWeights(world_joint_weights=_weights({5: 0.0, 9: 0.25, 13: 3.0})))
    g = torch.Generator().manual_seed(4)
    layout = ParameterLayout(10)
    X = torch.zeros(2, layout.size, dtype=F64)
    X[:, :3] = torch.randn(2, 3, generator=g, dtype=F64)
    X[:, layout.angles] = 0.3 * torch.randn(2, 45, generator=g, dtype=F64)
    X[:, layout.transl] = torch.tensor([0.0, 0.0, 0.5], dtype=F64)
    targets = _Targets(
        keypoints=200 + 100 * torch.rand(2, 21, 2, generator=g, dtype=F64),
        sigma=torch.full((2, 21), 2.0, dtype=F64),
        valid=torch.ones(2, 21, dtype=torch.bool),
        world=0.05 * torch.randn(2, 21, 3, generator=g, dtype=F64),
        has_world=torch.tensor([True, True]),
        previous=None,
        has_previous=torch.tensor([False, False]),
    )
    K = intrinsics_from_fov(640, 480, 60.0, dtype=F64)
    scales = _TermScales.from_weights(fitter.weights)
    reference = _Residuals(fitter, ["right", "right"], K, targets, scales)
    analytic = _Residuals(fitter, ["right", "right"], K, targets, scales, lean=True)
    ids = torch.arange(2)
    R, Jt = analytic.linearise(X, ids)
    torch.testing.assert_close(R, reference(X, ids), rtol=0, atol=1e-9)
    h = 1e-6
    fd = torch.stack(
        [(reference(X + h * e, ids) - reference(X - h * e, ids)) / (2 * h) for e in torch.eye(X.shape[1], dtype=F64)],
        1,
    )
    assert float((fd - Jt).abs().max()) < 1e-7 * float(fd.abs().max())
    world_rows = slice(42 + 45, 42 + 45 + 63)  # after the 2D keypoints and the range violations
    np.testing.assert_array_equal(R[:, world_rows][:, 15:18].numpy(), 0.0)  # index MCP weighted 0


def _fit_case():
    model = HandModel(side="right", dtype=F64)
    g = torch.Generator().manual_seed(8)
    out, _ = posed_hand(model, g, 0.5)
    K = intrinsics_from_fov(640, 480, 60.0, dtype=F64)
    kp = project_points(out.joints, K)[0]
    world = out.joints[0].clone()
    world[8] += torch.tensor([0.02, 0.0, 0.0], dtype=F64)  # the index tip's landmark 2 cm off
    sigma = torch.full((21,), 10.0, dtype=F64)  # exact 2D keypoints, loose enough for the 3D term to pull
    init = inverse_kinematics(model, out.joints + 0.003 * torch.randn(1, 21, 3, generator=g, dtype=F64))
    return model, K, HandObservation("right", kp, sigma, world=world), init, out.joints[0]


def test_ones_fit_as_the_default_and_zero_at_a_joint_lets_its_landmark_go():
    model, K, obs, init, truth = _fit_case()

    def fit(weights):
        res = HandFitter({"right": model}, FitWeights(world_joint_weights=weights)).fit([obs], K, [init])[0]
        J = model(**res.params.model_inputs()).joints[0]
        return J - J[0]

    plain = fit(None)
    torch.testing.assert_close(fit((1.0,) * 21), plain, rtol=0, atol=0)
    rel_t = truth - truth[0]
    tip_gap = {w: float((fit(_weights({8: w})) - rel_t)[8].norm() * 1000) for w in (0.0, 4.0)}
    plain_gap = float((plain - rel_t)[8].norm() * 1000)  # mm: pulled towards the displaced landmark
    assert tip_gap[0.0] < 0.5 * plain_gap < plain_gap < tip_gap[4.0]
