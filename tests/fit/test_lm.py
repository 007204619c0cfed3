"""Batched Levenberg-Marquardt on problems with known solutions."""

import pytest
import torch

from handrecon.fit.lm import levenberg_marquardt


def rosenbrock(x: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    # r = (10 (y - x^2), 1 - x): minimum 0 at (1, 1)
    return torch.stack([10 * (x[:, 1] - x[:, 0] ** 2), 1 - x[:, 0]], 1)


def test_solves_rosenbrock_from_several_starts_at_once():
    x0 = torch.tensor([[-1.2, 1.0], [2.0, -1.0], [0.0, 0.0]], dtype=torch.float64)
    x, cost = levenberg_marquardt(rosenbrock, x0, iterations=100)
    torch.testing.assert_close(x, torch.ones(3, 2, dtype=torch.float64), atol=1e-5, rtol=0)
    assert (cost < 1e-10).all()


def test_linear_least_squares_in_one_step_family():
    g = torch.Generator().manual_seed(0)
    A = torch.randn(2, 8, 3, generator=g, dtype=torch.float64)
    b = torch.randn(2, 8, generator=g, dtype=torch.float64)

    def res(x, ids):
        return (A[ids] @ x[..., None])[..., 0] - b[ids]

    x, _ = levenberg_marquardt(res, torch.zeros(2, 3, dtype=torch.float64), iterations=20)
    expected = torch.linalg.lstsq(A, b[..., None]).solution[..., 0]
    torch.testing.assert_close(x, expected, atol=1e-6, rtol=0)


def test_cost_never_increases_and_problems_are_independent():
    x0 = torch.tensor([[-1.2, 1.0], [1.0, 1.0]], dtype=torch.float64)  # the second starts at the optimum
    x, cost = levenberg_marquardt(rosenbrock, x0, iterations=3)
    start = 0.5 * rosenbrock(x0, torch.arange(2)).square().sum(-1)
    assert (cost <= start).all()
    torch.testing.assert_close(x[1], x0[1])


def test_projection_keeps_trial_points_feasible_and_finds_the_bound():
    def res(x, ids):
        return torch.stack([x[:, 0] - 2.0, 0.1 * (x[:, 1] + 1.0)], 1)  # unconstrained minimum at (2, -1)

    seen = []

    def project(x):
        p = x.clamp(max=1.0)
        seen.append(p)
        return p

    x, cost = levenberg_marquardt(res, torch.zeros(1, 2, dtype=torch.float64), iterations=20, project=project)
    torch.testing.assert_close(x[0], torch.tensor([1.0, -1.0], dtype=torch.float64), atol=1e-6, rtol=0)
    assert all(bool((p <= 1.0).all()) for p in seen)
    assert float(cost) == pytest.approx(0.5)


def rosenbrock_jacobian(x: torch.Tensor, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Residuals and transposed Jacobian (N, P, R) of `rosenbrock`."""
    jt = torch.zeros(x.shape[0], 2, 2, dtype=x.dtype)
    jt[:, 0, 0], jt[:, 1, 0], jt[:, 0, 1] = -20 * x[:, 0], 10.0, -1.0
    return rosenbrock(x, ids), jt


@pytest.mark.parametrize("project", [None, lambda x: x.clamp(max=0.9)])
def test_numpy_algebra_takes_the_same_steps_as_torch(monkeypatch, project):
    """With an exact Jacobian on float64 CPU problems the iterations run in NumPy; they must match the torch
    iterations to rounding, step by step (several step budgets), with and without a projection."""
    import handrecon.fit.lm as lm

    x0 = torch.tensor([[-1.2, 1.0], [2.0, -1.0], [0.0, 0.0], [1.0, 1.0]], dtype=torch.float64)
    for iterations in (1, 3, 8, 40):
        kw = dict(iterations=iterations, project=project, with_residuals=True, jacobian=rosenbrock_jacobian)
        assert lm._numpy_algebra(x0, rosenbrock_jacobian)
        fast = levenberg_marquardt(rosenbrock, x0, **kw)
        monkeypatch.setattr(lm, "_numpy_algebra", lambda x0, jacobian: False)
        reference = levenberg_marquardt(rosenbrock, x0, **kw)
        monkeypatch.undo()
        for a, b in zip(fast, reference, strict=True):
            assert a.dtype == torch.float64
            torch.testing.assert_close(a, b, atol=1e-12, rtol=1e-10)
    assert not lm._numpy_algebra(x0.float(), rosenbrock_jacobian)
    assert not lm._numpy_algebra(x0, None)
