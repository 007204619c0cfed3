"""The penetration stage poses each parameter row once: its tests of rows that nothing moved in between
(each hand's own test after the two-hand test, the two-hand depth before and after the hands' rounds) reuse
the mesh and the depth instead of computing them again, with the same results."""

import math

import pytest
import torch

from handrecon.fit import refine
from handrecon.fit.energy import FitWeights
from handrecon.fit.initialize import inverse_kinematics
from handrecon.fit.refine import FitSettings, HandFitter, HandObservation, _StageMeshes
from handrecon.geometry.camera import intrinsics_from_fov, project_points
from handrecon.hand import HandModel
from handrecon.priors.penetration import two_hand_penetration_depth

F64 = torch.float64


@pytest.fixture(scope="module")
def models():
    return {s: HandModel(side=s, dtype=F64) for s in ("right", "left")}


def _two_apart_hands(models):
    """Two hands side by side, 20 cm apart: neither inside the other, neither inside itself."""
    go = torch.tensor([[math.pi, 0.2, 0.1]], dtype=F64)
    K = intrinsics_from_fov(640, 480, 60.0, dtype=F64)
    hands = []
    for side, dx in (("right", -0.1), ("left", 0.1)):
        out = models[side](global_orient=go, transl=torch.tensor([[dx, 0.05, 0.5]], dtype=F64))
        hands.append((side, out))
    obs = [HandObservation(s, project_points(o.joints, K)[0], torch.full((21,), 2.0, dtype=F64)) for s, o in hands]
    init = [inverse_kinematics(models[s], o.joints) for s, o in hands]
    return obs, K, init


def _count(monkeypatch, obj, name):
    calls = []
    fn = getattr(obj, name)

    def counted(*a, **k):
        calls.append(1)
        return fn(*a, **k)

    monkeypatch.setattr(obj, name, counted)
    return calls


def test_two_hands_that_nothing_moves_are_posed_and_tested_once(models, monkeypatch):
    obs, K, init = _two_apart_hands(models)
    settings = FitSettings(iterations=3)
    reference = HandFitter(models, FitWeights(), settings)
    # the reference: every mesh and depth computed afresh, as before the stage kept them
    with monkeypatch.context() as m:
        m.setattr(_StageMeshes, "__call__", lambda self, side, row: self._vertices(side, row))
        m.setattr(
            _StageMeshes,
            "pair_depth",
            lambda self, sides, x, a, b: float(
                refine.two_hand_penetration_depth(self(sides[0], x[0:1]), self(sides[1], x[1:2]), a, b)
            ),
        )
        depth_calls = _count(m, refine, "two_hand_penetration_depth")
        expected = reference.fit(obs, K, init)
    assert len(depth_calls) == 2  # before the hands' own rounds and after them
    fitter = HandFitter(models, FitWeights(), settings)
    depth_calls = _count(monkeypatch, refine, "two_hand_penetration_depth")
    meshes = _count(monkeypatch, fitter, "_vertices")
    got = fitter.fit(obs, K, init)
    assert len(depth_calls) == 1 and len(meshes) == 2  # one mesh per hand, one two-hand test
    for a, b in zip(got, expected, strict=True):
        assert a.self_penetration == b.self_penetration is not None and a.self_penetration < 1e-3
        assert a.other_hand_penetration == b.other_hand_penetration is not None
        torch.testing.assert_close(a.angles, b.angles, atol=0, rtol=0)
        torch.testing.assert_close(a.params.transl, b.params.transl, atol=0, rtol=0)


def test_a_moved_row_is_posed_again_and_rows_with_gradients_are_not_kept(models):
    posed = []

    def vertices(side, row):
        posed.append((side, row.detach().clone()))
        return torch.full((1, 4, 3), float(row.detach().sum()), dtype=F64)

    meshes = _StageMeshes(vertices)
    x = torch.zeros(1, 5, dtype=F64)
    first = meshes("right", x)
    assert meshes("right", x.clone()) is first and len(posed) == 1  # the same values: kept
    assert meshes("left", x) is not first and len(posed) == 2  # the other side's model: its own mesh
    x[0, 2] = 1e-12  # moved in place, however little
    assert float(meshes("right", x)[0, 0, 0]) == 1e-12 and len(posed) == 3
    g = x.clone().requires_grad_(True)
    meshes("right", g), meshes("right", g)
    assert len(posed) == 5  # L-BFGS's rows carry gradients: posed every time


def test_the_two_hand_depth_is_the_one_of_the_posed_meshes(models):
    obs, K, init = _two_apart_hands(models)
    fitter = HandFitter(models)
    x = torch.cat([fitter._row(o.side, p) for o, p in zip(obs, init, strict=True)])
    x[1, -19] -= 0.2  # the left hand's x translation (before the 16 log scales): onto the right hand
    meshes = _StageMeshes(fitter._vertices)
    got = meshes.pair_depth(["right", "left"], x, models["right"], models["left"])
    with torch.no_grad():
        va, vb = fitter._vertices("right", x[0:1]), fitter._vertices("left", x[1:2])
        want = float(two_hand_penetration_depth(va, vb, models["right"], models["left"]))
    assert got == want and got > 0.01
    x[1, -19] += 0.2  # apart again: a new depth, not the kept one
    assert meshes.pair_depth(["right", "left"], x, models["right"], models["left"]) < 1e-3
