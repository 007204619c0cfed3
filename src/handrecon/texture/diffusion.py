"""Filling unknown per-vertex values by diffusion over the mesh: the harmonic extension of the known ones.

Unknown values x_u solve L_uu x_u = -L_uk x_k for the uniform graph Laplacian L (geometry.mesh), i.e. every
unknown vertex ends up the average of its neighbours, which is the steady state of heat diffusion with the
known vertices held fixed. Vertices in mesh components without any known vertex get the mean known value
(zero if nothing is known). The solve is exact (sparse LU, scipy, float64), and gradients flow to the known
values through the adjoint solve.

What depends only on the mesh (the Laplacian, its connected components, a bandwidth-reducing vertex order)
is cached per mesh; only the factorization of the unknown block is redone for each known set. The unknown
vertices are eliminated in reverse Cuthill-McKee order, which keeps the LU factors within a narrow band.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch
from scipy.sparse.csgraph import connected_components, reverse_cuthill_mckee
from scipy.sparse.linalg import splu

from handrecon.geometry.topology import uniform_laplacian
from handrecon.texture.cache import ContentCache

_MESHES = ContentCache(maxsize=8)


def _laplacian_csr(faces: torch.Tensor, num_vertices: int) -> sp.csr_matrix:
    L = uniform_laplacian(faces, num_vertices, dtype=torch.float64)
    idx = L.indices().numpy()
    return sp.csr_matrix((L.values().numpy(), (idx[0], idx[1])), shape=(num_vertices, num_vertices))


@dataclass(frozen=True)
class _MeshOperators:
    """What the fill needs from a mesh alone: Laplacian, component label per vertex, elimination order."""

    L: sp.csr_matrix
    comp: np.ndarray
    order: np.ndarray


def _mesh_operators(faces: torch.Tensor, num_vertices: int) -> _MeshOperators:
    """The mesh's operators, cached by the faces' contents (a model's faces are the same for every photo)."""

    def compute() -> _MeshOperators:
        L = _laplacian_csr(faces, num_vertices)
        _, comp = connected_components(abs(L) > 0, directed=False)
        order = reverse_cuthill_mckee(L, symmetric_mode=True) if num_vertices else np.zeros(0, dtype=np.int32)
        return _MeshOperators(L=L, comp=comp, order=np.asarray(order, dtype=np.int64))

    return _MESHES.get((faces,), num_vertices, compute)


def _factorize(A: sp.csc_matrix):
    """Sparse LU of the unknown block, already in band-limiting order: no column reordering, and no
    supernode relaxation or panels (measurably faster for these small, narrow-band systems)."""
    return splu(A, permc_spec="NATURAL", relax=1, panel_size=1)


class _FillOperator:
    """The linear map from known values to the filled field, for one known-vertex set."""

    def __init__(self, mesh: _MeshOperators, known: np.ndarray):
        L, comp = mesh.L, mesh.comp
        V = L.shape[0]
        self.known = np.flatnonzero(known)
        seeded = np.zeros(comp.max() + 1 if V else 0, dtype=bool)
        seeded[comp[self.known]] = True
        unknown = ~known
        # Solved vertices listed in the band-limiting order, so that no column reordering is needed.
        self.solved = mesh.order[(unknown & seeded[comp])[mesh.order]]
        self.unseeded = np.flatnonzero(unknown & ~seeded[comp])
        L_u = L[self.solved]
        self.lu = _factorize(L_u[:, self.solved].tocsc()) if self.solved.size else None
        self.L_uk = L_u[:, self.known].tocsr()

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
    mesh = _mesh_operators(faces.detach().cpu(), values.shape[1])
    ops = [_FillOperator(mesh, k) for k in known.detach().cpu().numpy().astype(bool)]
    return _HarmonicFill.apply(values, ops)
