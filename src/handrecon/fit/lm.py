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
    reweight: Callable[[torch.Tensor], None] | None = None,
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
    differences (steps of `step`); it must agree with `residuals`. `reweight` (H, P) -> None, optional, is
    called with the current point before each linearisation and may change the residual functions' fixed
    weights there (iteratively reweighted least squares); the cost is then re-evaluated under the new weights
    before it is compared with the next trials.

    The callbacks take and return tensors of x0's dtype and device; the iterations' own algebra (normal
    equations, the damped solves of all trials in one batched call, trial selection) runs in NumPy on the
    CPU, in x0's dtype: on these small systems (P ~ 80) each torch operation costs several times a NumPy one,
    and with an exact Jacobian the algebra was as costly as a linearisation.
    """
    device, dtype = x0.device, x0.dtype
    x = x0.detach().cpu().numpy().copy()
    H, P = x.shape
    mult = np.asarray(DAMPING_MULTIPLIERS, dtype=x.dtype)
    C = mult.size
    rows_t = torch.arange(H, device=device)
    ids_full = rows_t.repeat_interleave(P + 1)
    ids_trial = rows_t.repeat_interleave(C)
    rows = np.arange(H)
    diagonal = np.arange(P)
    eye = np.eye(P, dtype=x.dtype)

    def tensor(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a)).to(device=device, dtype=dtype)

    def array(t: torch.Tensor) -> np.ndarray:
        return t.detach().cpu().numpy()

    def linearise(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Residuals (H, R) at x and the transposed Jacobian (H, P, R), exact or by forward differences."""
        if jacobian is not None:
            r, Jt = jacobian(tensor(x), rows_t)
            return array(r), array(Jt)
        X = np.concatenate([x[:, None, :], x[:, None, :] + step * eye], 1).reshape(H * (P + 1), P)
        R = array(residuals(tensor(X), ids_full)).reshape(H, P + 1, -1)
        return R[:, 0], (R[:, 1:] - R[:, :1]) / step

    lam = np.full(H, damping, dtype=x.dtype)
    active = np.ones(H, dtype=bool)
    with torch.no_grad():
        if reweight is not None:
            reweight(tensor(x))
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
                trials = array(project(tensor(trials.reshape(H * C, P)))).reshape(H, C, P)
            R_trials = array(residuals(tensor(trials.reshape(H * C, P)), ids_trial)).reshape(H, C, -1)
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
                if reweight is None:
                    _, J_new = linearise(x)
                else:  # new weights: the residuals and cost at x change with them
                    reweight(tensor(x))
                    r_new, J_new = linearise(x)
                    r0 = np.where(better[:, None], r_new, r0)
                    cost = np.where(better, 0.5 * np.square(r_new).sum(-1), cost)
                J = np.where(better[:, None, None], J_new, J)
    out = (tensor(x), tensor(cost))
    return (*out, tensor(r0)) if with_residuals else out
