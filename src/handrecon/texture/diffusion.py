"""Filling unknown per-vertex values by diffusion over the mesh: the harmonic extension of the known ones.

Unknown values x_u solve L_uu x_u = -L_uk x_k for the uniform graph Laplacian L (geometry.mesh), i.e. every
unknown vertex ends up the average of its neighbours, which is the steady state of heat diffusion with the
known vertices held fixed. Vertices in mesh components without any known vertex get the mean known value
(zero if nothing is known). The solve is exact (sparse LU, scipy, float64), and gradients flow to the known
values through the adjoint solve.

What depends only on the mesh (the Laplacian, its connected components, a bandwidth-reducing vertex order)
is cached per mesh; only the factorization of the unknown block is redone for each known set. The unknown
vertices are eliminated in reverse Cuthill-McKee order, which keeps the factors within a narrow band.

Scaling each row by its vertex degree makes the system symmetric: (D - A)_uu x_u = A_uk x_k, whose matrix
is positive definite (every solved vertex's component holds a known vertex). When its band in that order is
narrow (a hand mesh: under 100 of ~1600 vertices), a banded Cholesky (LAPACK) solves it at about half the
cost of the sparse LU of L_uu, which wider bands keep. Both are exact to rounding (~1e-14 apart).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch
from scipy.linalg import cho_solve_banded, cholesky_banded
from scipy.sparse.csgraph import connected_components, reverse_cuthill_mckee
from scipy.sparse.linalg import splu

from handrecon.geometry.topology import uniform_laplacian
from handrecon.texture.cache import ContentCache

_MESHES = ContentCache(maxsize=8)


def _laplacian_csr(faces: torch.Tensor, num_vertices: int) -> sp.csr_matrix:
    L = uniform_laplacian(faces, num_vertices, dtype=torch.float64)
    idx = L.indices().numpy()
    return sp.csr_matrix((L.values().numpy(), (idx[0], idx[1])), shape=(num_vertices, num_vertices))


# Widest band (in the elimination order) solved by banded Cholesky; wider ones go to the sparse LU, whose
# cost grows more slowly with the band (a banded factorization costs ~ n * band^2).
MAX_BAND = 128


@dataclass(frozen=True)
class _MeshOperators:
    """What the fill needs from a mesh alone: Laplacian, component label per vertex, elimination order, and
    for the symmetric form the vertex degrees, the adjacency (ones) and each edge once (i > j)."""

    L: sp.csr_matrix
    comp: np.ndarray
    order: np.ndarray
    degree: np.ndarray
    adjacency: sp.csr_matrix
    edges: tuple[np.ndarray, np.ndarray]


def _mesh_operators(faces: torch.Tensor, num_vertices: int) -> _MeshOperators:
    """The mesh's operators, cached by the faces' contents (a model's faces are the same for every photo)."""

    def compute() -> _MeshOperators:
        L = _laplacian_csr(faces, num_vertices)
        _, comp = connected_components(abs(L) > 0, directed=False)
        order = reverse_cuthill_mckee(L, symmetric_mode=True) if num_vertices else np.zeros(0, dtype=np.int32)
        coo = L.tocoo()
        off = coo.row != coo.col
        row, col = coo.row[off].astype(np.int64), coo.col[off].astype(np.int64)
        adjacency = sp.csr_matrix((np.ones(row.size), (row, col)), shape=L.shape)
        degree = np.bincount(row, minlength=num_vertices).astype(np.float64)
        lower = row > col
        return _MeshOperators(
            L=L,
            comp=comp,
            order=np.asarray(order, dtype=np.int64),
            degree=degree,
            adjacency=adjacency,
            edges=(row[lower], col[lower]),
        )

    return _MESHES.get((faces,), num_vertices, compute)


def _banded_block(mesh: _MeshOperators, solved: np.ndarray) -> np.ndarray | None:
    """(D - A) restricted to the solved vertices, in their order, as LAPACK's lower band storage
    (band + 1, n); None when its band is wider than MAX_BAND."""
    n = solved.size
    position = np.full(mesh.degree.size, -1, dtype=np.int64)
    position[solved] = np.arange(n)
    i, j = (position[e] for e in mesh.edges)
    both = np.flatnonzero((i >= 0) & (j >= 0))
    i, j = i.take(both), j.take(both)
    lo, hi = np.minimum(i, j), np.maximum(i, j)
    band = int((hi - lo).max()) if hi.size else 0
    if band > MAX_BAND:
        return None
    ab = np.zeros((band + 1, n))
    ab[0] = mesh.degree[solved]
    ab[hi - lo, lo] = -1.0
    return ab


def _factorize(A: sp.csc_matrix):
    """Sparse LU of the unknown block, already in band-limiting order: no column reordering, and no
    supernode relaxation or panels (measurably faster for these small, narrow-band systems)."""
    return splu(A, permc_spec="NATURAL", relax=1, panel_size=1)


class _FillOperator:
    """The linear map from known values to the filled field, for one known-vertex set."""

    def __init__(self, mesh: _MeshOperators, known: np.ndarray):
        L, comp = mesh.L, mesh.comp
        V = L.shape[0]
        self.mesh = mesh
        self.is_known = known
        self.known = np.flatnonzero(known)
        seeded = np.zeros(comp.max() + 1 if V else 0, dtype=bool)
        seeded[comp[self.known]] = True
        unknown = ~known
        # Solved vertices listed in the band-limiting order, so that no column reordering is needed.
        self.solved = mesh.order[(unknown & seeded[comp])[mesh.order]]
        self.unseeded = np.flatnonzero(unknown & ~seeded[comp])
        self.cholesky = self.lu = None
        ab = _banded_block(mesh, self.solved) if self.solved.size else None
        if ab is not None:  # (D - A)_uu x_u = A_uk x_k
            self.cholesky = cholesky_banded(ab, lower=True, check_finite=False)
        elif self.solved.size:  # L_uu x_u = -L_uk x_k
            L_u = L[self.solved]
            self.lu = _factorize(L_u[:, self.solved].tocsc())
            self.L_uk = L_u[:, self.known].tocsr()

    def _neighbour_sums(self, x: np.ndarray, of: np.ndarray, at: np.ndarray) -> np.ndarray:
        """Sum over the neighbours among vertices `of` (bool) of x, at vertices `at` (A_at,of x_of)."""
        return (self.mesh.adjacency @ np.where(of[:, None], x, 0.0))[at]

    def apply(self, x: np.ndarray) -> np.ndarray:
        out = x.copy()
        xk = x[self.known]
        if self.cholesky is not None:
            rhs = self._neighbour_sums(x, self.is_known, self.solved)
            out[self.solved] = cho_solve_banded((self.cholesky, True), rhs, check_finite=False)
        elif self.lu is not None:
            out[self.solved] = self.lu.solve(-(self.L_uk @ xk))
        out[self.unseeded] = xk.mean(0) if self.known.size else 0.0
        return out

    def adjoint(self, g: np.ndarray) -> np.ndarray:
        gin = np.zeros_like(g)
        gk = g[self.known].copy()
        if self.cholesky is not None:  # x_u = S_uu^-1 A_uk x_k with S_uu symmetric: g_k += A_ku S_uu^-1 g_u
            y = np.zeros_like(g)
            y[self.solved] = cho_solve_banded((self.cholesky, True), g[self.solved], check_finite=False)
            solved = np.zeros(g.shape[0], dtype=bool)
            solved[self.solved] = True
            gk += self._neighbour_sums(y, solved, self.known)
        elif self.lu is not None:
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
    mesh = _mesh_operators(faces.detach().cpu(), values.shape[1])
    ops = [_FillOperator(mesh, k) for k in known.detach().cpu().numpy().astype(bool)]
    return _HarmonicFill.apply(values, ops)
