"""The fit's lean forward and analytic Jacobian (`fit.joints_forward`, `fit.derivatives`): equal to the hand
model and to finite differences of the reference residuals, on both sides, with bone scales, with separate
keypoints and with pose blend shapes (a MANO-like asset)."""

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from handrecon.fit import derivatives as lean
from handrecon.fit.energy import FitWeights, pose_residuals, world_residuals
from handrecon.fit.initialize import inverse_kinematics
from handrecon.fit.joints_forward import JointChain, MeshSkin
from handrecon.fit.layout import ParameterLayout
from handrecon.fit.refine import (
    FitSettings,
    HandFitter,
    HandObservation,
    _clamp_to_functional_ranges,
    _Residuals,
    _Targets,
    _TermScales,
)
from handrecon.geometry.camera import intrinsics_from_fov, project_points
from handrecon.hand import HandModel
from handrecon.hand.anatomy import Anatomy
from handrecon.hand.asset import load_openhand
from handrecon.io.errors import SettingError
from handrecon.priors.knowledge import functional_range_slopes, functional_ranges, functional_ranges_numpy

F64 = torch.float64


def _asset(kind: str):
    a = load_openhand("left" if kind == "left" else "right")
    if kind == "separate_keypoints":  # index MCP keypoint halfway to the PIP, as in tests/hand
        kp = a.j_regressor.copy()
        kp[1] = 0.5 * (a.j_regressor[1] + a.j_regressor[2])
        return replace(a, kp_regressor=kp)
    if kind == "pose_blend_shapes":  # MANO-like: pose-corrective offsets on every vertex
        rng = np.random.default_rng(0)
        return replace(a, posedirs=rng.standard_normal((a.num_vertices, 3, 135)) * 2e-3)
    return a


KINDS = ("right", "left", "separate_keypoints", "pose_blend_shapes")


@pytest.fixture(scope="module", params=KINDS)
def model(request):
    return HandModel(asset=_asset(request.param), dtype=F64)


def _random_rows(n: int, seed: int, num_betas: int = 10) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    layout = ParameterLayout(num_betas)
    X = torch.zeros(n, layout.size, dtype=F64)
    X[:, :3] = torch.randn(n, 3, generator=g, dtype=F64)
    X[:, layout.angles] = 0.4 * torch.randn(n, 45, generator=g, dtype=F64)
    X[:, layout.betas] = torch.randn(n, num_betas, generator=g, dtype=F64)
    X[:, layout.transl] = torch.tensor([0.0, 0.0, 0.5], dtype=F64) + 0.05 * torch.randn(n, 3, generator=g, dtype=F64)
    X[:, layout.log_scales] = 0.2 * torch.randn(n, 16, generator=g, dtype=F64)
    return X


def _reference_joints(model, anatomy, X: torch.Tensor) -> torch.Tensor:
    go, ang, betas, transl, log_s = ParameterLayout.of_rows(X).split(X)
    R = anatomy.euler_to_rotations(ang)
    out = model(global_orient=go, hand_pose=R, betas=betas, transl=transl, bone_scales=log_s.exp(), skin_mesh=False)
    return out.joints


def _chain_inputs(X: torch.Tensor) -> tuple[np.ndarray, ...]:
    go, ang, betas, transl, log_s = (p.numpy() for p in ParameterLayout.of_rows(X).split(X))
    return go, ang, betas, transl, log_s


def test_lean_forward_gives_the_hand_models_keypoints(model):
    anatomy = Anatomy.from_hand_model(model)
    X = _random_rows(6, seed=1)
    points = JointChain(model, anatomy).forward(*_chain_inputs(X)).points
    ref = _reference_joints(model, anatomy, X).numpy()
    assert np.abs(points - ref).max() < 1e-8  # metres: 1e-5 mm


def test_lean_mesh_gives_the_hand_models_vertices(model):
    """The penetration test's mesh from the chain's state (`MeshSkin`) is the model's own posed mesh, and the
    fitter poses it so for rows without gradient (and through the model with one)."""
    anatomy = Anatomy.from_hand_model(model)
    X = _random_rows(4, seed=5)
    inputs = _chain_inputs(X)
    verts = MeshSkin(model).vertices(JointChain(model, anatomy).forward(*inputs), inputs[2], inputs[3])
    go, ang, betas, transl, log_s = ParameterLayout.of_rows(X).split(X)
    ref = model(
        global_orient=go, hand_pose=anatomy.euler_to_rotations(ang), betas=betas, transl=transl, bone_scales=log_s.exp()
    ).vertices
    assert verts.shape == tuple(ref.shape)
    assert np.abs(verts - ref.numpy()).max() < 1e-12  # metres
    fitter = HandFitter({model.side: model})
    np.testing.assert_allclose(fitter._vertices(model.side, X).numpy(), verts, rtol=0, atol=0)
    with_grad = fitter._vertices(model.side, X.clone().requires_grad_(True))
    assert with_grad.requires_grad and np.abs(with_grad.detach().numpy() - verts).max() < 1e-12


def test_keypoint_jacobian_equals_autograd_through_the_hand_model(model):
    anatomy = Anatomy.from_hand_model(model)
    chain = JointChain(model, anatomy)
    X = _random_rows(3, seed=2)
    inputs = _chain_inputs(X)
    dJ = chain.jacobian(chain.forward(*inputs), inputs[0], inputs[1])  # (N, 21, 3, P)
    for n in range(X.shape[0]):
        auto = torch.autograd.functional.jacobian(lambda x: _reference_joints(model, anatomy, x[None])[0], X[n])
        np.testing.assert_allclose(dJ[n], auto.numpy(), rtol=0, atol=1e-12)


def test_jacobian_detects_a_wrong_derivative():
    """The comparison above can fail: a perturbed column differs from autograd."""
    model = HandModel(dtype=F64)
    anatomy = Anatomy.from_hand_model(model)
    chain = JointChain(model, anatomy)
    X = _random_rows(1, seed=3)
    inputs = _chain_inputs(X)
    dJ = chain.jacobian(chain.forward(*inputs), inputs[0], inputs[1])
    auto = torch.autograd.functional.jacobian(lambda x: _reference_joints(model, anatomy, x[None])[0], X[0]).numpy()
    wrong = dJ[0].copy()
    wrong[..., 10] *= 1.01
    assert np.abs(wrong - auto).max() > 1e-6


@pytest.fixture(scope="module")
def fitter():
    models = {s: HandModel(side=s, dtype=F64) for s in ("right", "left")}
    return HandFitter(models, FitWeights(temporal=3.0, world_metric=10.0))


def _targets(n: int, P: int, seed: int) -> _Targets:
    g = torch.Generator().manual_seed(seed)
    return _Targets(
        keypoints=200 + 100 * torch.rand(n, 21, 2, generator=g, dtype=F64),
        sigma=1 + torch.rand(n, 21, generator=g, dtype=F64),
        valid=torch.rand(n, 21, generator=g) > 0.2,
        world=0.1 * torch.randn(n, 21, 3, generator=g, dtype=F64),
        has_world=torch.tensor([True, True, False])[:n],
        previous=torch.randn(n, P, generator=g, dtype=F64),
        has_previous=torch.tensor([True, False, True])[:n],
    )


def _residual_pair(fitter, sides, targets):
    K = intrinsics_from_fov(640, 480, 60.0, dtype=F64)
    scales = _TermScales.from_weights(fitter.weights)
    return _Residuals(fitter, sides, K, targets, scales), _Residuals(fitter, sides, K, targets, scales, lean=True)


def test_residual_jacobian_equals_finite_differences_of_the_reference_residuals(fitter):
    """Every block (2D keypoints, ranges, world with its size normalisation, shape, bone scales, metric
    world, temporal) for hands of both sides in one batch."""
    sides = ["right", "left", "right"]
    X = _random_rows(3, seed=4)
    reference, analytic = _residual_pair(fitter, sides, _targets(3, X.shape[1], seed=5))
    ids = torch.arange(3)
    R, Jt = analytic.linearise(X, ids)
    torch.testing.assert_close(R, reference(X, ids), rtol=0, atol=1e-9)
    torch.testing.assert_close(analytic(X, ids), reference(X, ids), rtol=0, atol=1e-9)
    h = 1e-6
    eye = torch.eye(X.shape[1], dtype=F64)
    fd = torch.stack([(reference(X + h * e, ids) - reference(X - h * e, ids)) / (2 * h) for e in eye], 1)
    assert float((fd - Jt).abs().max()) < 1e-7 * float(fd.abs().max())


def test_range_term_derivative_on_the_bounds_is_the_forward_differences(fitter):
    """The fit's projection leaves angles exactly on the bounds (plus the tolerance), where the range terms
    have kinks: the analytic Jacobian takes the side a forward difference takes there."""
    X = _random_rows(4, seed=6)
    layout = ParameterLayout.of_rows(X)
    tol = math.radians(fitter.weights.pose_tolerance_deg)
    for margin in (0.0, tol):
        ang = _clamp_to_functional_ranges(X[:, layout.angles].reshape(-1, 15, 3), fitter.rom, margin=margin)
        v, b, dv, db = lean.pose_residuals(ang.numpy(), fitter.rom, tol, jacobian=True)
        h = 1e-8
        flat = ang.reshape(4, 45)
        rows = [pose_residuals((flat + h * e).reshape(4, 15, 3), fitter.rom, tol) for e in torch.eye(45, dtype=F64)]
        v0, b0 = pose_residuals(ang, fitter.rom, tol)
        fd_v = torch.stack([(r[0] - v0) / h for r in rows], -1).numpy()
        fd_b = torch.stack([(r[1] - b0) / h for r in rows], -1).numpy()
        # (DIP-PIP coupling is a step: forward differences across it are not derivatives; none sits there)
        np.testing.assert_allclose(dv, fd_v, atol=1e-5)
        np.testing.assert_allclose(db, fd_b, atol=1e-5)
        assert np.abs(dv).max() > 0.5  # the bounds are active: the test sees the kinks


def test_numpy_terms_equal_the_torch_terms(fitter):
    g = torch.Generator().manual_seed(7)
    ang = 0.8 * torch.randn(50, 15, 3, generator=g, dtype=F64)
    ranges, _ = functional_range_slopes(ang.numpy(), fitter.rom)
    np.testing.assert_array_equal(ranges, functional_ranges(ang, fitter.rom).numpy())
    np.testing.assert_array_equal(functional_ranges_numpy(ang.numpy(), fitter.rom), ranges)  # (the clamp's)
    v, b = lean.pose_residuals(ang.numpy(), fitter.rom, 0.05)
    v_ref, b_ref = pose_residuals(ang, fitter.rom, 0.05)
    np.testing.assert_array_equal(v, v_ref.numpy())
    np.testing.assert_array_equal(b, b_ref.numpy())
    pts = torch.randn(4, 21, 3, generator=g, dtype=F64) * 0.05 + torch.tensor([0, 0, 0.4], dtype=F64)
    world = torch.randn(4, 21, 3, generator=g, dtype=F64) * 0.05
    has = torch.tensor([True, False, True, True])
    K = intrinsics_from_fov(640, 480, 60.0, dtype=F64)
    np.testing.assert_allclose(lean.project(pts.numpy(), K.numpy()), project_points(pts, K).numpy(), atol=1e-10)
    np.testing.assert_allclose(
        lean.world_residuals(pts.numpy(), world.numpy(), has.numpy().astype(float)),
        world_residuals(pts, world, has).numpy(),
        atol=1e-15,
    )


def _synthetic_case(model, seed: int):
    g = torch.Generator().manual_seed(seed)
    anatomy = Anatomy.from_hand_model(model)
    rom = HandFitter({"right": model}).rom
    angles = rom[..., 0] + torch.rand(1, 15, 3, generator=g, dtype=F64) * (rom[..., 1] - rom[..., 0]) * 0.6
    out = model(
        global_orient=torch.tensor([[math.pi, 0.2, 0.1]], dtype=F64),
        hand_pose=anatomy.euler_to_rotations(angles),
        transl=torch.tensor([[0.02, 0.08, 0.55]], dtype=F64),
    )
    K = intrinsics_from_fov(640, 480, 60.0, dtype=F64)
    kp = project_points(out.joints, K)[0] + 1.0 * torch.randn(21, 2, generator=g, dtype=F64)
    init = inverse_kinematics(model, out.joints + 0.01 * torch.randn(1, 21, 3, generator=g, dtype=F64))
    obs = HandObservation("right", kp, torch.full((21,), 2.0, dtype=F64), world=out.joints[0])
    return obs, K, init, out.joints


def test_fits_with_either_jacobian_agree():
    model = HandModel(dtype=F64)
    obs, K, init, truth = _synthetic_case(model, 8)
    results = {}
    for jac in ("analytic", "finite_difference"):
        fitter = HandFitter({"right": model}, FitWeights(), FitSettings(iterations=8, jacobian=jac))
        res = fitter.fit([obs], K, [init])[0]
        results[jac] = (model(**res.params.model_inputs()).joints, res.energy_terms["total"])
    (ja, ea), (jf, ef) = results["analytic"], results["finite_difference"]
    assert float((ja - jf).norm(dim=-1).max()) < 1e-3  # metres
    assert ea <= ef * (1 + 1e-3)
    assert float((ja - truth).norm(dim=-1).mean()) < 0.012


def test_an_unknown_jacobian_is_refused_naming_the_setting():
    model = HandModel(dtype=F64)
    obs, K, init, _ = _synthetic_case(model, 9)
    fitter = HandFitter({"right": model}, FitWeights(), FitSettings(jacobian="autodiff"))
    with pytest.raises(SettingError, match="fit.jacobian"):
        fitter.fit([obs], K, [init])


def test_the_jacobian_setting_is_saved_and_checked_with_the_pipeline_config(tmp_path):
    from handrecon.io import load_config, save_config
    from handrecon.pipeline.config import PipelineConfig

    fit = FitSettings(jacobian="finite_difference")
    assert load_config(FitSettings, save_config(fit, tmp_path / "fit.yaml")) == fit
    with pytest.raises(SettingError) as info:
        PipelineConfig(fit=FitSettings(jacobian="autodiff"))
    assert info.value.path == "fit.jacobian"


def test_clamping_through_numpy_equals_clamping_in_torch(fitter):
    g = torch.Generator().manual_seed(10)
    ang = 2.0 * torch.randn(40, 15, 3, generator=g, dtype=F64)
    for margin in (0.0, 0.05):
        fast = _clamp_to_functional_ranges(ang, fitter.rom, margin=margin)
        slow = _clamp_to_functional_ranges(ang.clone().requires_grad_(True), fitter.rom, margin=margin)
        torch.testing.assert_close(fast, slow.detach(), rtol=0, atol=0)


def test_penetration_rounds_residual_jacobian_equals_finite_differences(fitter):
    """The penetration rounds add residuals on a few skinned vertices (each inside vertex and its nearest
    non-neighbour); the lean forward skins them too."""
    from handrecon.fit.refine import SurfaceTerm

    X = _random_rows(1, seed=11)
    reference, analytic = _residual_pair(fitter, ["right"], _targets(1, X.shape[1], seed=12))
    # pairs far apart compared with the tolerance so that every residual is active
    term = SurfaceTerm.from_pairs({5: 700, 100: 300, 450: 12}, scale=30.0, tolerance=0.001)
    ids = torch.zeros(1, dtype=torch.long)
    R, Jt = analytic.linearise(X, ids, term)
    torch.testing.assert_close(R, reference(X, ids, term), rtol=0, atol=1e-9)
    assert float(R[0, -3:].min()) > 0
    h = 1e-6
    eye = torch.eye(X.shape[1], dtype=F64)
    fd = torch.stack([(reference(X + h * e, ids, term) - reference(X - h * e, ids, term)) / (2 * h) for e in eye], 1)
    assert float((fd - Jt).abs().max()) < 1e-7 * float(fd.abs().max())


@pytest.mark.parametrize("kind", KINDS)
def test_chain_with_vertices_equals_a_fresh_build(kind):
    """The penetration rounds' chain derived from the keypoint chain has every table of a fresh build with
    those vertices, equal to the bit (values, dtypes, shapes), and the same forward and Jacobian; the
    keypoint chain it came from is left as it was."""
    model = HandModel(asset=_asset(kind), dtype=F64)
    anatomy = Anatomy.from_hand_model(model)
    base = JointChain(model, anatomy)
    before = {k: np.copy(v) for k, v in vars(base).items() if isinstance(v, np.ndarray)}
    rng = np.random.default_rng(1)
    tips = model.tip_vertex_ids.tolist()
    for vids in (
        torch.tensor([], dtype=torch.long),
        torch.tensor([5]),
        torch.tensor(tips + [0, model.num_vertices - 1]),
        torch.from_numpy(np.sort(rng.choice(model.num_vertices, 60, replace=False))),
    ):
        fresh, derived = JointChain(model, anatomy, vertex_ids=vids), base.with_vertices(model, vids)
        assert set(vars(fresh)) == set(vars(derived))
        for name, value in vars(fresh).items():
            other = getattr(derived, name)
            if isinstance(value, np.ndarray):
                assert other.dtype == value.dtype and other.shape == value.shape, name
                assert np.array_equal(other, value), name
            elif name != "anatomy":
                assert other == value, name
        X = _random_rows(3, 7, model.num_betas)
        layout = ParameterLayout.of_rows(X)
        a = X.numpy()
        args = (a[:, :3], a[:, layout.angles].reshape(-1, 15, 3), a[:, layout.betas], a[:, layout.transl],
                a[:, layout.log_scales])  # fmt: skip
        st_f, st_d = fresh.forward(*args), derived.forward(*args)
        assert np.array_equal(st_f.points, st_d.points)
        assert np.array_equal(fresh.jacobian(st_f, args[0], args[1]), derived.jacobian(st_d, args[0], args[1]))
    for k, v in before.items():
        assert np.array_equal(getattr(base, k), v), k
    with pytest.raises(ValueError, match="keypoints-only"):
        base.with_vertices(model, torch.tensor([1])).with_vertices(model, torch.tensor([2]))


def test_a_warm_start_that_is_the_previous_frame_fits_as_a_copy_of_it():
    """A video passes one parameter object as the start and as the temporal term's previous frame; the fit
    converts it once (`_RowCache`) and must give what two separate objects of the same values give."""
    import copy

    model = HandModel(dtype=F64)
    obs, K, init, _ = _synthetic_case(model, 10)
    fitter = HandFitter({"right": model}, FitWeights(temporal=3.0), FitSettings(iterations=4))
    shared = fitter.fit([obs], K, [init], [init])[0]
    separate = fitter.fit([obs], K, [copy.deepcopy(init)], [copy.deepcopy(init)])[0]
    for name in ("global_orient", "hand_pose", "betas", "transl"):
        assert torch.equal(getattr(shared.params, name), getattr(separate.params, name)), name
    assert shared.energy_terms == separate.energy_terms
