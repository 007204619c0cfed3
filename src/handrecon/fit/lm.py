"""Batched Levenberg-Marquardt for independent small least-squares problems (one per hand).

The Jacobian is exact when the caller provides it (the hand fit does, `fit.refine`), else taken by forward
differences evaluated in a single batched call: for P parameters, the residual function runs once on
(P + 1) parameter vectors per problem. For the hand model this costs about as much as one unbatched forward
pass (its cost is per call, not per sample), which makes a Gauss-Newton step cheaper than the several
gradient evaluations a quasi-Newton step needs, and it converges in far fewer steps.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

ResidualFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (N, P) params, (N,) problem ids -> (N, R)
# (H, P) params, (H,) problem ids -> residuals (H, R) and the transposed Jacobian (H, P, R)
JacobianFn = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


# Damping values tried at once in each iteration, relative to the current one: one batched call evaluates
# them all, so a stiff problem finds its damping without spending iterations on rejected steps.
DAMPING_MULTIPLIERS = (0.1, 1.0, 10.0, 100.0, 1000.0)


def levenberg_marquardt(
    residuals: ResidualFn,
    x0: torch.Tensor,
    iterations: int = 10,
    step: float = 1e-6,
    damping: float = 1e-3,
    tolerance: float = 1e-10,
    project: Callable[[torch.Tensor], torch.Tensor] | None = None,
    with_residuals: bool = False,
    jacobian: JacobianFn | None = None,
) -> tuple[torch.Tensor, ...]:
    """Minimise 0.5 ||r_h(x_h)||^2 for each problem h; x0 (H, P) -> (x (H, P), final cost (H,)), and with
    `with_residuals` the residuals there (H, R) too (what a caller reporting the energy would recompute).

    Marquardt's scaling (damping proportional to diag(J^T J)) makes the method invariant to the units of
    each parameter (radians, metres, shape coefficients). Each iteration solves the damped normal equations
    for several damping values, evaluates all trial points in one batched call, keeps the best one if it
    lowers the cost (else raises the damping beyond the largest tried) and linearises there. A problem stops
    when an accepted step lowers its cost by less than `tolerance` (relative) or its damping saturates.
    `project` (N, P) -> (N, P), optional, maps trial points into a feasible set (projected Gauss-Newton for
    bound constraints); x0 should lie in it. `jacobian`, optional, linearises exactly instead of by forward
    differences (steps of `step`); it must agree with `residuals`.
    """
    if _numpy_algebra(x0, jacobian):
        return _levenberg_marquardt_numpy(
            residuals, x0, jacobian, iterations, damping, tolerance, project, with_residuals
        )
    x = x0.detach().clone()
    H, P = x.shape
    ids_full = torch.arange(H, device=x.device).repeat_interleave(P + 1)
    mult = torch.tensor(DAMPING_MULTIPLIERS, dtype=x.dtype, device=x.device)
    C = mult.numel()
    ids_trial = torch.arange(H, device=x.device).repeat_interleave(C)
    eye = torch.eye(P, dtype=x.dtype, device=x.device)

    def linearise(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Residuals (H, R) at x and the transposed Jacobian (H, P, R) by forward differences."""
        if jacobian is not None:
            return jacobian(x, rows)
        X = torch.cat([x[:, None, :], x[:, None, :] + step * eye], 1).reshape(H * (P + 1), P)
        R = residuals(X, ids_full).reshape(H, P + 1, -1)
        return R[:, 0], (R[:, 1:] - R[:, :1]) / step

    lam = torch.full((H,), damping, dtype=x.dtype, device=x.device)
    active = torch.ones(H, dtype=torch.bool, device=x.device)
    rows = torch.arange(H, device=x.device)
    with torch.no_grad():
        r0, J = linearise(x)
        cost = 0.5 * r0.square().sum(-1)
        for it in range(iterations):
            A = J @ J.transpose(1, 2)
            g = (J @ r0[..., None])[..., 0]
            diag = torch.diagonal(A, dim1=1, dim2=2).clamp_min(1e-12)
            lams = lam[:, None] * mult  # (H, C)
            M = A[:, None] + torch.diag_embed(lams[..., None] * diag[:, None, :])
            trials = x[:, None] - torch.linalg.solve(M, g[:, None, :].expand(H, C, P))  # (H, C, P)
            if project is not None:
                trials = project(trials.reshape(H * C, P)).reshape(H, C, P)
            R_trials = residuals(trials.reshape(H * C, P), ids_trial).reshape(H, C, -1)
            costs = 0.5 * R_trials.square().sum(-1)
            best_cost, best = costs.min(1)
            better = active & (best_cost < cost)
            converged = better & (cost - best_cost <= tolerance * (1 + cost))
            x = torch.where(better[:, None], trials[rows, best], x)
            r0 = torch.where(better[:, None], R_trials[rows, best], r0)
            cost = torch.where(better, best_cost, cost)
            lam = torch.where(
                better, (lams[rows, best] / 3).clamp_min(1e-9), torch.where(active, lams[:, -1] * 10, lam)
            )
            active = active & ~converged & (lam < 1e12)
            if not bool(active.any()) or it == iterations - 1:
                break  # (no linearisation after the last step: nothing would use it)
            if bool(better.any()):
                _, J_new = linearise(x)
                J = torch.where(better[:, None, None], J_new, J)
    return (x, cost, r0) if with_residuals else (x, cost)


def _numpy_algebra(x0: torch.Tensor, jacobian: JacobianFn | None) -> bool:
    """Whether the iterations run their algebra in NumPy: float64 CPU problems with an exact Jacobian (with
    differences, the batched residual call dominates and the torch path stays as it was)."""
    return jacobian is not None and x0.dtype == torch.float64 and x0.device.type == "cpu"


def _levenberg_marquardt_numpy(
    residuals: ResidualFn,
    x0: torch.Tensor,
    jacobian: JacobianFn,
    iterations: int,
    damping: float,
    tolerance: float,
    project: Callable[[torch.Tensor], torch.Tensor] | None,
    with_residuals: bool,
) -> tuple[torch.Tensor, ...]:
    """`levenberg_marquardt`'s iterations, the same steps, with its own algebra (normal equations, the
    damped solves of all trials in one batched call, trial selection) in NumPy: for float64 CPU problems
    with an exact Jacobian. Each small torch operation costs several times a NumPy one on the CPU, and with
    the Jacobian no longer taken by differences the algebra was as costly as a linearisation. The callbacks
    still take and return tensors (shared memory, no copies)."""
    x = x0.detach().numpy().copy()
    H, P = x.shape
    mult = np.asarray(DAMPING_MULTIPLIERS, dtype=np.float64)
    C = mult.size
    rows_t = torch.arange(H)
    ids_trial = rows_t.repeat_interleave(C)
    rows = np.arange(H)
    diagonal = np.arange(P)

    def linearise(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        r, Jt = jacobian(torch.from_numpy(x), rows_t)
        return r.numpy(), Jt.numpy()

    lam = np.full(H, damping)
    active = np.ones(H, dtype=bool)
    with torch.no_grad():
        r0, J = linearise(x)
        cost = 0.5 * np.square(r0).sum(-1)
        for it in range(iterations):
            A = J @ J.transpose(0, 2, 1)
            g = (J @ r0[..., None])[..., 0]
            diag = np.maximum(A[:, diagonal, diagonal], 1e-12)
            lams = lam[:, None] * mult  # (H, C)
            M = np.repeat(A[:, None], C, 1)
            M[..., diagonal, diagonal] += lams[..., None] * diag[:, None, :]
            steps = np.linalg.solve(M, np.broadcast_to(g[:, None, :, None], (H, C, P, 1)))[..., 0]
            trials = x[:, None] - steps  # (H, C, P)
            if project is not None:
                trials = project(torch.from_numpy(trials.reshape(H * C, P))).numpy().reshape(H, C, P)
            R_trials = residuals(torch.from_numpy(trials.reshape(H * C, P)), ids_trial).numpy().reshape(H, C, -1)
            costs = 0.5 * np.square(R_trials).sum(-1)
            best = costs.argmin(1)
            best_cost = costs[rows, best]
            better = active & (best_cost < cost)
            converged = better & (cost - best_cost <= tolerance * (1 + cost))
            x = np.where(better[:, None], trials[rows, best], x)
            r0 = np.where(better[:, None], R_trials[rows, best], r0)
            cost = np.where(better, best_cost, cost)
            lam = np.where(better, np.maximum(lams[rows, best] / 3, 1e-9), np.where(active, lams[:, -1] * 10, lam))
            active = active & ~converged & (lam < 1e12)
            if not active.any() or it == iterations - 1:
                break  # (no linearisation after the last step: nothing would use it)
            if better.any():
                _, J_new = linearise(x)
                J = np.where(better[:, None, None], J_new, J)
    out = (torch.from_numpy(x), torch.from_numpy(cost))
    return (*out, torch.from_numpy(r0)) if with_residuals else out
