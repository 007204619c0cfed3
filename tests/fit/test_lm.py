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


def torch_reference(residuals, x0, iterations, project=None, jacobian=None, step=1e-6, damping=1e-3, tolerance=1e-10):
    """The iterations with their algebra in torch (as the loop ran before it moved to NumPy): the reference
    that the NumPy algebra must follow step by step."""
    from handrecon.fit.lm import DAMPING_MULTIPLIERS

    x = x0.clone()
    H, P = x.shape
    ids_full = torch.arange(H).repeat_interleave(P + 1)
    mult = torch.tensor(DAMPING_MULTIPLIERS, dtype=x.dtype)
    C = mult.numel()
    ids_trial = torch.arange(H).repeat_interleave(C)
    rows = torch.arange(H)

    def linearise(x):
        if jacobian is not None:
            return jacobian(x, rows)
        X = torch.cat([x[:, None, :], x[:, None, :] + step * torch.eye(P, dtype=x.dtype)], 1).reshape(-1, P)
        R = residuals(X, ids_full).reshape(H, P + 1, -1)
        return R[:, 0], (R[:, 1:] - R[:, :1]) / step

    lam = torch.full((H,), damping, dtype=x.dtype)
    active = torch.ones(H, dtype=torch.bool)
    r0, J = linearise(x)
    cost = 0.5 * r0.square().sum(-1)
    for it in range(iterations):
        A = J @ J.transpose(1, 2)
        g = (J @ r0[..., None])[..., 0]
        diag = torch.diagonal(A, dim1=1, dim2=2).clamp_min(1e-12)
        lams = lam[:, None] * mult
        M = A[:, None] + torch.diag_embed(lams[..., None] * diag[:, None, :])
        trials = x[:, None] - torch.linalg.solve(M, g[:, None, :].expand(H, C, P))
        if project is not None:
            trials = project(trials.reshape(H * C, P)).reshape(H, C, P)
        R_trials = residuals(trials.reshape(H * C, P), ids_trial).reshape(H, C, -1)
        best_cost, best = (0.5 * R_trials.square().sum(-1)).min(1)
        better = active & (best_cost < cost)
        converged = better & (cost - best_cost <= tolerance * (1 + cost))
        x = torch.where(better[:, None], trials[rows, best], x)
        r0 = torch.where(better[:, None], R_trials[rows, best], r0)
        cost = torch.where(better, best_cost, cost)
        lam = torch.where(better, (lams[rows, best] / 3).clamp_min(1e-9), torch.where(active, lams[:, -1] * 10, lam))
        active = active & ~converged & (lam < 1e12)
        if not bool(active.any()) or it == iterations - 1:
            break
        if bool(better.any()):
            J = torch.where(better[:, None, None], linearise(x)[1], J)
    return x, cost, r0


@pytest.mark.parametrize("jacobian", [rosenbrock_jacobian, None])
@pytest.mark.parametrize("project", [None, lambda x: x.clamp(max=0.9)])
def test_numpy_algebra_takes_the_same_steps_as_torch(project, jacobian):
    """The iterations' algebra runs in NumPy; with an exact Jacobian and with forward differences it must
    match the torch algebra to rounding, step by step (several step budgets), with and without a
    projection (forward differences divide the rounding by their step: a looser bound)."""
    atol, rtol = (1e-12, 1e-10) if jacobian is not None else (1e-9, 1e-7)
    x0 = torch.tensor([[-1.2, 1.0], [2.0, -1.0], [0.0, 0.0], [1.0, 1.0]], dtype=torch.float64)
    for iterations in (1, 3, 8, 40):
        got = levenberg_marquardt(
            rosenbrock, x0, iterations=iterations, project=project, with_residuals=True, jacobian=jacobian
        )
        reference = torch_reference(rosenbrock, x0, iterations, project, jacobian)
        for a, b in zip(got, reference, strict=True):
            assert a.dtype == torch.float64
            torch.testing.assert_close(a, b, atol=atol, rtol=rtol)


def test_float32_problems_keep_their_dtype_and_converge():
    x0 = torch.tensor([[-1.2, 1.0], [0.5, 0.5]], dtype=torch.float32)
    seen = []

    def res(x, ids):
        seen.append(x.dtype)
        return rosenbrock(x, ids)

    x, cost = levenberg_marquardt(res, x0, iterations=60, step=1e-3)
    assert x.dtype == cost.dtype == torch.float32 and set(seen) == {torch.float32}
    torch.testing.assert_close(x, torch.ones(2, 2), atol=2e-2, rtol=0)
