"""Triangle-mesh utilities shared by the hand model, renderer, priors and texture code."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import torch


def face_normals(vertices: torch.Tensor, faces: torch.Tensor, normalize: bool = True) -> torch.Tensor:
    """(..., V, 3), (F, 3) -> (..., F, 3) normals (counter-clockwise faces point outwards)."""
    v0, v1, v2 = (vertices[..., faces[:, i], :] for i in range(3))
    n = torch.cross(v1 - v0, v2 - v0, dim=-1)
    return torch.nn.functional.normalize(n, dim=-1, eps=1e-12) if normalize else n


def vertex_normals(vertices: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """Area-weighted vertex normals (..., V, 3)."""
    fn = face_normals(vertices, faces, normalize=False)
    vn = torch.zeros_like(vertices)
    idx = faces.reshape(-1)
    contrib = fn.unsqueeze(-2).expand(*fn.shape[:-1], 3, 3).reshape(*fn.shape[:-2], -1, 3)
    vn = vn.index_add(-2, idx, contrib)
    return torch.nn.functional.normalize(vn, dim=-1, eps=1e-12)


def edges(faces: np.ndarray | torch.Tensor) -> np.ndarray:
    """Unique undirected edges (E, 2), sorted per row."""
    f = np.asarray(faces.cpu() if isinstance(faces, torch.Tensor) else faces)
    e = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]], 0)
    return np.unique(np.sort(e, axis=1), axis=0)


def boundary_loops(faces: np.ndarray | torch.Tensor) -> list[np.ndarray]:
    """Boundary loops as ordered vertex arrays, each following the faces' orientation."""
    f = np.asarray(faces.cpu() if isinstance(faces, torch.Tensor) else faces)
    directed = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]], 0)
    present = {tuple(e) for e in directed.tolist()}
    nxt: dict[int, int] = {}
    for a, b in directed.tolist():
        if (b, a) not in present:  # half-edge without twin: on the boundary
            nxt[a] = b
    loops, seen = [], set()
    for start in nxt:
        if start in seen:
            continue
        loop, v = [], start
        while v not in seen:
            seen.add(v)
            loop.append(v)
            v = nxt[v]
        loops.append(np.asarray(loop))
    return loops


def is_watertight(faces: np.ndarray | torch.Tensor) -> bool:
    """True when every directed edge has exactly one opposite twin (closed, consistently oriented)."""
    f = np.asarray(faces.cpu() if isinstance(faces, torch.Tensor) else faces)
    directed = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]], 0)
    fwd = {tuple(e) for e in directed.tolist()}
    if len(fwd) != len(directed):
        return False
    return all((b, a) in fwd for a, b in fwd)


def vertex_neighbors(faces: np.ndarray | torch.Tensor, num_vertices: int) -> list[np.ndarray]:
    """1-ring neighbours of each vertex."""
    nb: dict[int, set[int]] = defaultdict(set)
    for a, b in edges(faces).tolist():
        nb[a].add(b)
        nb[b].add(a)
    return [np.asarray(sorted(nb[i]), dtype=np.int64) for i in range(num_vertices)]


def uniform_laplacian(faces: np.ndarray | torch.Tensor, num_vertices: int, dtype=torch.float32) -> torch.Tensor:
    """Sparse (V, V) uniform graph Laplacian L = I - D^-1 A (rows sum to zero)."""
    e = edges(faces)
    i = np.concatenate([e[:, 0], e[:, 1]])
    j = np.concatenate([e[:, 1], e[:, 0]])
    deg = np.bincount(i, minlength=num_vertices).astype(np.float64)
    w = -1.0 / deg[i]
    rows = np.concatenate([np.arange(num_vertices), i])
    cols = np.concatenate([np.arange(num_vertices), j])
    vals = np.concatenate([np.ones(num_vertices), w])
    return torch.sparse_coo_tensor(np.stack([rows, cols]), vals, (num_vertices, num_vertices), dtype=dtype).coalesce()


def flip_faces(faces: torch.Tensor) -> torch.Tensor:
    """Reverse the winding of every face (used when mirroring a mesh)."""
    return faces[:, [0, 2, 1]]
