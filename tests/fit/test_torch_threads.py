"""The fit runs on one torch thread: the caller's count comes back, and the results equal those of a caller
that set one thread itself (the penetration stage included)."""

import math

import pytest
import torch

from handrecon.fit import refine
from handrecon.fit.energy import FitWeights
from handrecon.fit.initialize import inverse_kinematics
from handrecon.fit.refine import FitSettings, HandFitter, HandObservation
from handrecon.fit.torch_threads import single_torch_thread
from handrecon.geometry.camera import intrinsics_from_fov, project_points
from handrecon.hand import HandModel
from handrecon.priors.knowledge import AnatomicalPosePrior

F64 = torch.float64


@pytest.fixture
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def test_one_thread_inside_and_the_callers_count_after(two_threads):
    with single_torch_thread():
        assert torch.get_num_threads() == 1
        with single_torch_thread():  # nested: still one, and leaving it restores nothing yet
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == 2
    with pytest.raises(RuntimeError), single_torch_thread():
        raise RuntimeError("boom")
    assert torch.get_num_threads() == 2  # restored on an error too


def test_a_caller_at_one_thread_is_left_alone():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with single_torch_thread():
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_the_fit_runs_on_one_thread_with_the_same_results(two_threads, monkeypatch):
    models = {s: HandModel(side=s, dtype=F64) for s in ("right", "left")}
    model = models["right"]
    prior = AnatomicalPosePrior.from_hand_model(model)
    deg = torch.zeros(1, 15, 3, dtype=F64)
    for f in (0, 3, 6, 9):  # a fist with the fingertips in the palm: the penetration stage runs
        deg[0, f : f + 3, 0] = torch.tensor([90.0, 100.0, 80.0], dtype=F64)
    R = prior.anatomy.euler_to_rotations(prior.anatomy.rest_angles().to(F64)[None] + torch.deg2rad(deg))
    go = torch.tensor([[math.pi, 0.2, 0.1]], dtype=F64)
    out = model(global_orient=go, hand_pose=R, transl=torch.tensor([[0.02, 0.08, 0.55]], dtype=F64))
    K = intrinsics_from_fov(640, 480, 60.0, dtype=F64)
    obs = [HandObservation("right", project_points(out.joints, K)[0], torch.full((21,), 2.0, dtype=F64))]
    init = [inverse_kinematics(model, out.joints)]
    fitter = HandFitter(models, FitWeights(), FitSettings(iterations=6))

    seen = []
    lm = refine.levenberg_marquardt

    def recording(*a, **k):
        seen.append(torch.get_num_threads())
        return lm(*a, **k)

    monkeypatch.setattr(refine, "levenberg_marquardt", recording)
    res = fitter.fit(obs, K, init)[0]
    assert torch.get_num_threads() == 2
    assert len(seen) >= 2 and set(seen) == {1}  # the main fit and at least one penetration round
    torch.set_num_threads(1)
    ref = fitter.fit(obs, K, init)[0]
    for a, b in zip(res.params.model_inputs().values(), ref.params.model_inputs().values(), strict=True):
        assert (a is None and b is None) or torch.equal(a, b)
    assert res.self_penetration == ref.self_penetration
