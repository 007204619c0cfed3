"""Filling unknown per-vertex values by diffusion over the mesh: the harmonic extension of the known ones.

Unknown values x_u solve L_uu x_u = -L_uk x_k for the uniform graph Laplacian L (geometry.mesh), i.e. every
unknown vertex ends up the average of its neighbours, which is the steady state of heat diffusion with the
known vertices held fixed. Vertices in mesh components without any known vertex get the mean known value
(zero if nothing is known). The solve is exact (sparse LU, scipy, float64), and gradients flow to the known
values through the adjoint solve.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
from scipy.sparse.csgraph import connected_components
from scipy.sparse.linalg import splu

from handrecon.geometry.mesh import uniform_laplacian


def _laplacian_csr(faces: torch.Tensor, num_vertices: int) -> sp.csr_matrix:
    L = uniform_laplacian(faces, num_vertices, dtype=torch.float64)
    idx = L.indices().numpy()
    return sp.csr_matrix((L.values().numpy(), (idx[0], idx[1])), shape=(num_vertices, num_vertices))


class _FillOperator:
    """The linear map from known values to the filled field, for one known-vertex set."""

    def __init__(self, L: sp.csr_matrix, known: np.ndarray):
        V = L.shape[0]
        self.known = np.flatnonzero(known)
        _, comp = connected_components(abs(L) > 0, directed=False)
        seeded = np.zeros(comp.max() + 1 if V else 0, dtype=bool)
        seeded[comp[self.known]] = True
        unknown = ~known
        self.solved = np.flatnonzero(unknown & seeded[comp])
        self.unseeded = np.flatnonzero(unknown & ~seeded[comp])
        self.lu = splu(L[self.solved][:, self.solved].tocsc()) if self.solved.size else None
        self.L_uk = L[self.solved][:, self.known].tocsr()

    def apply(self, x: np.ndarray) -> np.ndarray:
        out = x.copy()
        xk = x[self.known]
        if self.lu is not None:
            out[self.solved] = self.lu.solve(-(self.L_uk @ xk))
        out[self.unseeded] = xk.mean(0) if self.known.size else 0.0
        return out

    def adjoint(self, g: np.ndarray) -> np.ndarray:
        gin = np.zeros_like(g)
        gk = g[self.known].copy()
        if self.lu is not None:
            gk -= self.L_uk.T @ self.lu.solve(np.ascontiguousarray(g[self.solved]), trans="T")
        if self.known.size and self.unseeded.size:
            gk += g[self.unseeded].sum(0, keepdims=True) / self.known.size
        gin[self.known] = gk
        return gin


class _HarmonicFill(torch.autograd.Function):
    @staticmethod
    def forward(ctx, values: torch.Tensor, ops: list[_FillOperator]) -> torch.Tensor:  # type: ignore[override]
        ctx.ops = ops
        x = values.detach().cpu().double().numpy()
        out = np.stack([op.apply(x[b]) for b, op in enumerate(ops)])
        return torch.from_numpy(out).to(dtype=values.dtype, device=values.device)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        g = grad.detach().cpu().double().numpy()
        gin = np.stack([op.adjoint(g[b]) for b, op in enumerate(ctx.ops)])
        return torch.from_numpy(gin).to(dtype=grad.dtype, device=grad.device), None


def harmonic_fill(values: torch.Tensor, known: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """values (B, V, C), known (B, V) bool, faces (F, 3) -> (B, V, C) with unknown vertices diffused from known ones.

    Known values are returned unchanged; input values at unknown vertices are ignored.
    """
    if values.dim() != 3 or known.shape != values.shape[:2]:
        raise ValueError(f"expected values (B, V, C) and known (B, V), got {tuple(values.shape)}, {tuple(known.shape)}")
    V = values.shape[1]
    L = _laplacian_csr(faces.detach().cpu(), V)
    ops = [_FillOperator(L, k) for k in known.detach().cpu().numpy().astype(bool)]
    return _HarmonicFill.apply(values, ops)
