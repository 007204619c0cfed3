"""Triangle-mesh connectivity: edges, boundary loops, one-rings, face adjacency, watertightness.

The one home of mesh topology for the hand model's asset tools, the renderer's Laplacians, the
winding-number parts (`geometry/closed_parts.py`) and the penetration prior's part labels. Faces are
(F, 3) vertex ids (NumPy or torch); everything here is NumPy, computed once per mesh, never per pose.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import torch


def _as_array(faces: np.ndarray | torch.Tensor) -> np.ndarray:
    return np.asarray(faces.cpu() if isinstance(faces, torch.Tensor) else faces)


def directed_edges(faces: np.ndarray | torch.Tensor) -> np.ndarray:
    """The faces' half-edges (3F, 2): all (f0, f1), then all (f1, f2), then all (f2, f0)."""
    f = _as_array(faces)
    return np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]], 0)


def edges(faces: np.ndarray | torch.Tensor) -> np.ndarray:
    """Unique undirected edges (E, 2), sorted per row."""
    return np.unique(np.sort(directed_edges(faces), axis=1), axis=0)


def is_watertight(faces: np.ndarray | torch.Tensor) -> bool:
    """True when every directed edge has exactly one opposite twin (closed, consistently oriented)."""
    directed = directed_edges(faces)
    fwd = {tuple(e) for e in directed.tolist()}
    if len(fwd) != len(directed):
        return False
    return all((b, a) in fwd for a, b in fwd)


def face_adjacency(faces: np.ndarray) -> np.ndarray:
    """(P, 2) pairs of faces sharing an edge."""
    e = np.sort(directed_edges(faces), 1)
    fid = np.tile(np.arange(len(faces)), 3)
    order = np.lexsort((e[:, 1], e[:, 0]))
    e, fid = e[order], fid[order]
    same = (e[1:] == e[:-1]).all(1)
    return np.stack([fid[:-1][same], fid[1:][same]], 1)


def vertex_neighbors(faces: np.ndarray | torch.Tensor, num_vertices: int) -> list[np.ndarray]:
    """1-ring neighbours of each vertex, sorted by id (see `ordered_one_rings` for the rotational order)."""
    nb: dict[int, set[int]] = defaultdict(set)
    for a, b in edges(faces).tolist():
        nb[a].add(b)
        nb[b].add(a)
    return [np.asarray(sorted(nb[i]), dtype=np.int64) for i in range(num_vertices)]


def ordered_one_rings(faces: np.ndarray, num_vertices: int) -> np.ndarray:
    """(V, maxdeg) one-ring of every vertex of a closed manifold mesh in the faces' rotational order, -1
    padded: for a face (v, a, b), b follows a."""
    nxt: list[dict[int, int]] = [{} for _ in range(num_vertices)]
    for a, b, c in faces.tolist():
        nxt[a][b], nxt[b][c], nxt[c][a] = c, a, b
    rings = []
    for links in nxt:
        start = next(iter(links))
        ring, u = [start], links[start]
        while u != start:
            ring.append(u)
            u = links[u]
        rings.append(ring)
    table = -np.ones((num_vertices, max(len(r) for r in rings)), np.int64)
    for i, r in enumerate(rings):
        table[i, : len(r)] = r
    return table


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
    return torch.sparse_coo_tensor(
        np.stack([rows, cols]), vals, (num_vertices, num_vertices), dtype=dtype, check_invariants=False
    ).coalesce()


def _walk_boundary(faces: np.ndarray, chosen: set[int], starts: list[tuple[int, int]]) -> list[np.ndarray]:
    """Boundary loops of the faces `chosen`: half-edges of chosen faces whose twin is missing or belongs to a
    face not chosen, linked head to tail. `starts` (fi, e): the chosen half-edges in the order loops begin.

    Where the region touches itself at a single vertex, its boundary passes through that vertex twice;
    walking around the vertex inside the region's own faces picks the continuation of the same wedge, so
    that every loop is simple.
    """
    owner = {}
    for fi, (a, b, c) in enumerate(faces.tolist()):
        owner[(a, b)], owner[(b, c)], owner[(c, a)] = fi, fi, fi

    def after(fi: int, v: int) -> int:  # the vertex following v in face fi
        f = faces[fi].tolist()
        return f[(f.index(v) + 1) % 3]

    nxt = {}
    for fi, e in starts:
        u, v = int(faces[fi, e]), int(faces[fi, (e + 1) % 3])
        if owner.get((v, u)) in chosen:
            continue
        w = after(fi, v)  # rotate around v through the region's faces to its outgoing boundary edge
        while owner.get((w, v)) in chosen:
            w = after(owner[(w, v)], v)
        nxt[(u, v)] = (v, w)
    loops, seen = [], set()
    for start in nxt:
        if start in seen:
            continue
        loop, he = [], start
        while he not in seen:
            seen.add(he)
            loop.append(he[0])
            he = nxt[he]
        loops.append(np.asarray(loop, dtype=np.int64))
    return loops


def boundary_loops(faces: np.ndarray | torch.Tensor) -> list[np.ndarray]:
    """Boundary loops of an open mesh as ordered vertex arrays, each following the faces' orientation; a loop
    starts at the first boundary half-edge in `directed_edges` order."""
    f = _as_array(faces).astype(np.int64)
    starts = [(fi, e) for e in range(3) for fi in range(len(f))]
    return _walk_boundary(f, set(range(len(f))), starts)


def part_boundary_loops(faces: np.ndarray, in_part: np.ndarray) -> list[np.ndarray]:
    """Boundary loops of the faces `in_part` (F,) bool of a closed manifold mesh, following the faces'
    orientation (the rims along which `ClosedParts` caps a part)."""
    part_faces = set(np.flatnonzero(in_part).tolist())
    return _walk_boundary(faces, part_faces, [(fi, e) for fi in part_faces for e in range(3)])


def loop_components(loops: list[np.ndarray]) -> list[np.ndarray]:
    """Indices of the loops grouped into connected components (loops sharing a vertex are connected): the
    caps over the loops of one component form a closed surface of their own."""
    if not loops:
        return []
    # imported here: scipy.sparse.csgraph costs about 0.25 s of every start-up that imports this module
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    owner = np.repeat(np.arange(len(loops)), [len(lp) for lp in loops])
    ids = np.concatenate(loops)
    graph = coo_matrix((np.ones(len(ids)), (owner, ids)), shape=(len(loops), int(ids.max()) + 1)).tocsr()
    _, comp = connected_components(graph @ graph.T, directed=False)
    return [np.flatnonzero(comp == c) for c in range(comp.max() + 1)]
