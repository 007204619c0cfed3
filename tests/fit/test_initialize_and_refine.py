"""Initialisation (PnP placement, inverse kinematics) and knowledge-prior refinement on synthetic hands."""

import math

import numpy as np
import pytest
import torch

from handrecon.fit.energy import FitWeights
from handrecon.fit.initialize import inverse_kinematics, place_landmarks
from handrecon.fit.refine import FitSettings, HandFitter, HandObservation
from handrecon.geometry.camera import intrinsics_from_fov, project_points
from handrecon.geometry.rotations import axis_angle_to_matrix
from handrecon.hand import HandModel
from handrecon.priors.knowledge import AnatomicalPosePrior
from tests.fit.posed_hands import posed_hand

F64 = torch.float64


@pytest.fixture(scope="module")
def models():
    return {s: HandModel(side=s, dtype=F64) for s in ("right", "left")}


def _true_hand(model, seed: int):
    return posed_hand(model, torch.Generator().manual_seed(seed), 0.6)


def test_inverse_kinematics_reproduces_model_joints(models):
    out, _ = _true_hand(models["right"], 0)
    p = inverse_kinematics(models["right"], out.joints)
    again = models["right"](**p.model_inputs())
    torch.testing.assert_close(again.joints, out.joints, atol=1e-9, rtol=0)


@pytest.fixture(scope="module")
def separate_keypoint_model(models):
    """The bundled right hand with keypoints apart from its joints, as datasets label them: each finger's
    MCP keypoint halfway along its proximal phalanx (it moves with the finger's base) and the thumb CMC's
    off its metacarpal's axis, towards the index MCP (so the metacarpal's twist moves it)."""
    from dataclasses import replace

    a = models["right"].asset
    kp = a.j_regressor.copy()
    for mcp in (1, 4, 7, 10):
        kp[mcp] = 0.5 * (a.j_regressor[mcp] + a.j_regressor[mcp + 1])
    kp[13] = 0.6 * a.j_regressor[13] + 0.4 * a.j_regressor[1]
    return HandModel(asset=replace(a, kp_regressor=kp), dtype=F64)


def test_inverse_kinematics_reproduces_keypoints_apart_from_the_joints(models, separate_keypoint_model):
    model = separate_keypoint_model
    assert model.separate_keypoints
    for seed in (0, 4):
        out, _ = _true_hand(model, seed)
        p = inverse_kinematics(model, out.joints)
        again = model(**p.model_inputs())
        torch.testing.assert_close(again.joints, out.joints, atol=1e-6, rtol=0)  # 1 micrometre
    # treating those keypoints as joints (one rigid fit of the rest palm) misses by millimetres
    naive = inverse_kinematics(models["right"], out.joints)
    assert (models["right"](**naive.model_inputs()).joints - out.joints).norm(dim=-1).max() > 2e-3


def test_place_landmarks_recovers_a_rigid_placement(models):
    out, _ = _true_hand(models["right"], 1)
    K = intrinsics_from_fov(640, 480, 60.0, dtype=F64)
    kp = project_points(out.joints, K)[0].numpy()
    # hand-centred landmarks in an arbitrary orientation, as a detector gives them
    R = axis_angle_to_matrix(torch.tensor([0.3, -1.1, 0.7], dtype=F64)).numpy()
    world = (out.joints[0].numpy() - out.joints[0].numpy().mean(0)) @ R.T
    placed = place_landmarks(world, kp, K.numpy())
    np.testing.assert_allclose(placed, out.joints[0].numpy(), atol=1e-6)


@pytest.mark.parametrize("side", ["right", "left"])
def test_refinement_recovers_a_hand_from_noisy_keypoints(models, side):
    model = models[side]
    out, R_true = _true_hand(model, 2)
    K = intrinsics_from_fov(640, 480, 60.0, dtype=F64)
    g = torch.Generator().manual_seed(3)
    kp = project_points(out.joints, K)[0] + 1.0 * torch.randn(21, 2, generator=g, dtype=F64)
    # a rough start: inverse kinematics on joints perturbed by ~1 cm
    init = inverse_kinematics(model, out.joints + 0.01 * torch.randn(1, 21, 3, generator=g, dtype=F64))
    fitter = HandFitter(models, FitWeights(), FitSettings(iterations=30))
    obs = HandObservation(side, kp, torch.full((21,), 2.0, dtype=F64), world=out.joints[0])
    res = fitter.fit([obs], K, [init])[0]
    fitted = model(**res.params.model_inputs())
    reproj = (project_points(fitted.joints, K)[0] - project_points(out.joints, K)[0]).norm(dim=-1)
    assert reproj.mean() < 1.5  # pixels, below the 1 px keypoint noise (per axis) plus model freedom
    err3d = (fitted.joints - out.joints).norm(dim=-1)[0]
    assert err3d.mean() < 0.012  # metres: monocular depth of single fingers stays ambiguous under 2D noise
    init_reproj = (project_points(model(**init.model_inputs()).joints, K)[0] - kp).norm(dim=-1)
    assert reproj.mean() < 0.5 * init_reproj.mean()
    prior = AnatomicalPosePrior.from_hand_model(model)
    assert prior.violations(res.params.hand_pose).max() < math.radians(3.5)


def test_refinement_respects_the_ranges_when_keypoints_ask_for_the_impossible(models):
    model = models["right"]
    out, _ = _true_hand(model, 4)
    K = intrinsics_from_fov(640, 480, 60.0, dtype=F64)
    kp = project_points(out.joints, K)[0].clone()
    # bend the index fingertip backwards by a large amount in the image: hyperextension
    kp[8] = kp[7] + 2.0 * (kp[7] - kp[6]) - torch.tensor([25.0, 0.0], dtype=F64)
    init = inverse_kinematics(model, out.joints)
    fitter = HandFitter(models, FitWeights(), FitSettings(iterations=30))
    res = fitter.fit([HandObservation("right", kp, torch.full((21,), 2.0, dtype=F64))], K, [init])[0]
    prior = AnatomicalPosePrior.from_hand_model(model)
    assert prior.violations(res.params.hand_pose).max() < math.radians(3.5)


def test_trial_projection_lands_where_the_stiff_penalty_is_zero(models):
    """The fit's projection of trial points must match the beyond-tolerance penalty (functional ranges of the
    projected angles, widened by the tolerance); a mismatch lets trial points meet the stiff term and stalls
    Levenberg-Marquardt."""
    from handrecon.fit.energy import pose_residuals

    fitter = HandFitter(models, FitWeights(), FitSettings())
    g = torch.Generator().manual_seed(3)
    X = torch.zeros(200, 77, dtype=F64)
    X[:, 3:48] = (torch.rand(200, 45, generator=g, dtype=F64) - 0.5) * 4.0  # far outside the ranges
    ang = fitter._project(X)[:, 3:48].reshape(-1, 15, 3)
    tol = math.radians(fitter.weights.pose_tolerance_deg)
    viol, beyond = pose_residuals(ang, fitter.rom, tol)
    assert beyond.max() < 1e-9
    assert viol.max() > 0.5 * tol  # the margin is used: the projection is not simply into the ranges


def _fist_angles(model, mcp: float, pip: float, dip: float) -> torch.Tensor:
    """Anatomical angles (1, 15, 3) of a fist: bends in degrees added to the rest angles of the four fingers."""
    prior = AnatomicalPosePrior.from_hand_model(model)
    deg = torch.zeros(1, 15, 3, dtype=F64)
    for f in (0, 3, 6, 9):
        deg[0, f : f + 3, 0] = torch.tensor([mcp, pip, dip], dtype=F64)
    return prior.anatomy.rest_angles().to(F64)[None] + torch.deg2rad(deg)


def test_penetrating_keypoints_give_a_hand_within_the_tolerance(models):
    from handrecon.priors.penetration import self_penetration_depth

    model = models["right"]
    prior = AnatomicalPosePrior.from_hand_model(model)
    R = prior.anatomy.euler_to_rotations(_fist_angles(model, 90, 100, 80))  # fingertips deep in the palm
    go = torch.tensor([[math.pi, 0.2, 0.1]], dtype=F64)
    out = model(global_orient=go, hand_pose=R, transl=torch.tensor([[0.02, 0.08, 0.55]], dtype=F64))
    assert float(self_penetration_depth(out.vertices, model)) > 0.006
    K = intrinsics_from_fov(640, 480, 60.0, dtype=F64)
    kp = project_points(out.joints, K)[0]
    settings = FitSettings(iterations=20)
    fitter = HandFitter(models, FitWeights(), settings)
    res = fitter.fit(
        [HandObservation("right", kp, torch.full((21,), 2.0, dtype=F64))], K, [inverse_kinematics(model, out.joints)]
    )[0]
    fitted = model(**res.params.model_inputs())
    depth = float(self_penetration_depth(fitted.vertices, model))
    assert depth <= settings.penetration_trigger + 1e-9
    assert res.self_penetration is not None and abs(res.self_penetration - depth) < 1e-6
    # the keypoints still hold: the fingers moved out of the palm, the hand did not fly away
    reproj = (project_points(fitted.joints, K)[0] - kp).norm(dim=-1)
    assert reproj.mean() < 10.0
    untested = HandFitter(models, FitWeights(), FitSettings(iterations=20, test_penetration=False))
    res_u = untested.fit(
        [HandObservation("right", kp, torch.full((21,), 2.0, dtype=F64))], K, [inverse_kinematics(model, out.joints)]
    )[0]
    assert res_u.self_penetration is None


def test_two_hands_fitted_inside_each_other_come_apart(models):
    from handrecon.priors.penetration import two_hand_penetration_depth

    go = torch.tensor([[math.pi, 0.2, 0.1]], dtype=F64)
    right = models["right"](global_orient=go, transl=torch.tensor([[0.0, 0.05, 0.5]], dtype=F64))
    left = models["left"](global_orient=go, transl=torch.tensor([[0.03, 0.05, 0.51]], dtype=F64))
    assert float(two_hand_penetration_depth(right.vertices, left.vertices, models["right"], models["left"])) > 0.01
    K = intrinsics_from_fov(640, 480, 60.0, dtype=F64)
    hands = (("right", right), ("left", left))
    obs = [HandObservation(s, project_points(o.joints, K)[0], torch.full((21,), 2.0, dtype=F64)) for s, o in hands]
    init = [inverse_kinematics(models[s], o.joints) for s, o in hands]
    settings = FitSettings()
    res = HandFitter(models, FitWeights(), settings).fit(obs, K, init)
    assert all(r.other_hand_penetration is not None for r in res)
    fitted = [models[s](**r.params.model_inputs()).vertices for (s, _), r in zip(hands, res, strict=True)]
    depth = float(two_hand_penetration_depth(*fitted, models["right"], models["left"]))
    assert depth <= settings.penetration_trigger and abs(depth - res[0].other_hand_penetration) < 1e-6


def test_settings_of_one_call_replace_the_fitters_own(models):
    """A caller with a start close to the answer (a video frame, a learned initialiser) gives one call a
    step budget; the result is the one a fitter built with those settings gives."""
    import dataclasses

    model = models["right"]
    out, _ = _true_hand(model, 4)
    K = intrinsics_from_fov(640, 480, 60.0, dtype=F64)
    kp = project_points(out.joints, K)[0]
    g = torch.Generator().manual_seed(5)
    init = inverse_kinematics(model, out.joints + 0.01 * torch.randn(1, 21, 3, generator=g, dtype=F64))
    obs = HandObservation("right", kp, torch.full((21,), 2.0, dtype=F64), world=out.joints[0])
    budget = FitSettings(iterations=2, test_penetration=False)
    default = HandFitter(models)
    res = default.fit([obs], K, [init], settings=budget)[0]
    ref = HandFitter(models, settings=budget).fit([obs], K, [init])[0]
    torch.testing.assert_close(res.angles, ref.angles, atol=0, rtol=0)
    assert res.self_penetration is None  # the budget's settings left the penetration test out
    full = default.fit([obs], K, [init])[0]
    assert full.self_penetration is not None
    assert full.energy_terms["total"] < res.energy_terms["total"]  # more steps, lower energy
    assert dataclasses.asdict(default.settings) == dataclasses.asdict(FitSettings())  # the fitter's own kept


def test_inverse_kinematics_reuses_the_mean_rest_pose_until_the_model_changes(models):
    """The mean shape's rest keypoints are computed once per model: repeated calls give the results of a
    fresh model, and a model whose buffers change (in place, or replaced by a dtype change) is recomputed."""
    model = HandModel(side="right", dtype=F64)
    out, _ = _true_hand(model, 2)
    first = inverse_kinematics(model, out.joints)
    again = inverse_kinematics(model, out.joints)
    fresh = inverse_kinematics(HandModel(side="right", dtype=F64), out.joints)
    for p in (again, fresh):
        torch.testing.assert_close(p.hand_pose, first.hand_pose, atol=0, rtol=0)
        torch.testing.assert_close(p.transl, first.transl, atol=0, rtol=0)
    with torch.no_grad():
        model.j_template.add_(0.001)  # every rest joint moves: the cached rest pose is stale
    moved = inverse_kinematics(model, out.joints)
    assert not torch.equal(moved.transl, first.transl)
    model.float()
    p32 = inverse_kinematics(model, out.joints.float())
    assert p32.hand_pose.dtype == torch.float32


def test_shape_turned_onto_takes_the_orientation_and_keeps_the_articulation():
    from handrecon.fit.initialize import shape_turned_onto

    rng = np.random.default_rng(3)
    joints = rng.normal(0, 0.03, (21, 3)) + [0.05, -0.02, 0.5]
    R = axis_angle_to_matrix(torch.tensor([0.4, -1.1, 0.7], dtype=torch.float64)).numpy()
    wrist = np.array([-0.1, 0.2, 0.8])
    turned_ref = wrist + (joints - joints[:1]) @ R.T  # the same shape, turned and moved
    out = shape_turned_onto(joints, turned_ref)
    # the rotation is recovered exactly; the result stays at the source's wrist
    assert np.allclose(out - out[:1], turned_ref - turned_ref[:1], atol=1e-10)
    assert np.allclose(out[0], joints[0])
    # another articulation: a rigid turn of the source about its wrist (distances kept), closer to the reference
    other = turned_ref + rng.normal(0, 0.005, (21, 3))
    out = shape_turned_onto(joints, other)
    dist = lambda x: np.linalg.norm(x[:, None] - x[None], axis=-1)  # noqa: E731
    assert np.allclose(dist(out), dist(joints), atol=1e-12)
    gap = lambda a: np.linalg.norm((a - a[:1]) - (other - other[:1]), axis=1).mean()  # noqa: E731
    assert gap(out) < 0.012 < 0.03 < gap(joints)  # the noise alone leaves ~9 mm
