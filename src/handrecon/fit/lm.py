"""Batched Levenberg-Marquardt for independent small least-squares problems (one per hand).

The Jacobian is taken by forward differences evaluated in a single batched call: for P parameters, the
residual function runs once on (P + 1) parameter vectors per problem. For the hand model this costs about
as much as one unbatched forward pass (its cost is per call, not per sample), which makes a Gauss-Newton
step cheaper than the several gradient evaluations a quasi-Newton step needs, and it converges in far
fewer steps.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

ResidualFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (N, P) params, (N,) problem ids -> (N, R)


def levenberg_marquardt(
    residuals: ResidualFn,
    x0: torch.Tensor,
    iterations: int = 10,
    step: float = 1e-6,
    damping: float = 1e-3,
    tolerance: float = 1e-10,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Minimise 0.5 ||r_h(x_h)||^2 for each problem h; x0 (H, P) -> (x (H, P), final cost (H,)).

    Marquardt's scaling (damping proportional to diag(J^T J)) makes the method invariant to the units of
    each parameter (radians, metres, shape coefficients).
    """
    x = x0.detach().clone()
    H, P = x.shape
    ids_full = torch.arange(H, device=x.device).repeat_interleave(P + 1)
    ids = torch.arange(H, device=x.device)
    eye = torch.eye(P, dtype=x.dtype, device=x.device)
    lam = torch.full((H,), damping, dtype=x.dtype, device=x.device)
    with torch.no_grad():
        cost = 0.5 * residuals(x, ids).square().sum(-1)
        for _ in range(iterations):
            X = torch.cat([x[:, None, :], x[:, None, :] + step * eye], 1).reshape(H * (P + 1), P)
            R = residuals(X, ids_full).reshape(H, P + 1, -1)
            r0 = R[:, 0]
            J = (R[:, 1:] - r0[:, None]) / step  # (H, P, R) = J^T
            A = J @ J.transpose(1, 2)
            g = (J @ r0[..., None])[..., 0]
            diag = torch.diagonal(A, dim1=1, dim2=2).clamp_min(1e-12)
            improvement = torch.zeros_like(cost)
            pending = torch.ones(H, dtype=torch.bool, device=x.device)
            for _ in range(12):  # raise the damping of the problems whose step did not lower the cost
                M = A + torch.diag_embed(lam[:, None] * diag)
                x_new = x - torch.linalg.solve(M, g)
                cost_new = 0.5 * residuals(x_new, ids).square().sum(-1)
                better = pending & (cost_new < cost)
                x = torch.where(better[:, None], x_new, x)
                improvement = torch.where(better, cost - cost_new, improvement)
                cost = torch.where(better, cost_new, cost)
                lam = torch.where(better, (lam / 3).clamp_min(1e-9), torch.where(pending, lam * 10, lam))
                pending = pending & ~better
                if not bool(pending.any()):
                    break
            if bool(pending.any()):
                continue  # a problem found no better point even at high damping: its next step starts afresh
            if bool((improvement <= tolerance * (1 + cost)).all()):
                break
    return x, cost
