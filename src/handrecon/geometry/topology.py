"""Triangle-mesh connectivity: edges, boundary loops, one-rings, face adjacency, watertightness.

The one home of mesh topology for the hand model's asset tools, the renderer's Laplacians, the
winding-number parts (`geometry/closed_parts.py`) and the penetration prior's part labels. Faces are
(F, 3) vertex ids (NumPy or torch); everything here is NumPy, computed once per mesh, never per pose.
"""

from __future__ import annotations

import numpy as np
import torch


def _as_array(faces: np.ndarray | torch.Tensor) -> np.ndarray:
    return np.asarray(faces.cpu() if isinstance(faces, torch.Tensor) else faces)


def directed_edges(faces: np.ndarray | torch.Tensor) -> np.ndarray:
    """The faces' half-edges (3F, 2): all (f0, f1), then all (f1, f2), then all (f2, f0)."""
    f = _as_array(faces)
    return np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]], 0)


def edges(faces: np.ndarray | torch.Tensor) -> np.ndarray:
    """Unique undirected edges (E, 2), sorted per row, rows in lexicographic order."""
    e = np.sort(directed_edges(faces), axis=1)
    if len(e) == 0:
        return e
    V = int(e.max()) + 1  # one int64 key per row: its sort order is the rows' lexicographic order
    keys = np.unique(_edge_keys(e[:, 0], e[:, 1], V))
    return np.stack([keys // V, keys % V], 1).astype(e.dtype)


def _edge_keys(u: np.ndarray, v: np.ndarray, num_vertices: int) -> np.ndarray:
    """One int64 per directed edge (u, v)."""
    return u.astype(np.int64) * num_vertices + v


def is_watertight(faces: np.ndarray | torch.Tensor) -> bool:
    """True when every directed edge has exactly one opposite twin (closed, consistently oriented)."""
    directed = directed_edges(faces).astype(np.int64)
    if len(directed) == 0:
        return True
    V = int(directed.max()) + 1
    keys = np.sort(_edge_keys(directed[:, 0], directed[:, 1], V))
    if (keys[1:] == keys[:-1]).any():
        return False
    twins = _edge_keys(directed[:, 1], directed[:, 0], V)
    found = keys[np.searchsorted(keys, twins).clip(max=len(keys) - 1)]
    return bool((found == twins).all())


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
    e = edges(faces).astype(np.int64).reshape(-1, 2)
    src, dst = np.concatenate([e[:, 0], e[:, 1]]), np.concatenate([e[:, 1], e[:, 0]])
    keep = src < num_vertices
    src, dst = src[keep], dst[keep]
    order = np.lexsort((dst, src))
    counts = np.bincount(src, minlength=num_vertices)
    return np.split(dst[order], np.cumsum(counts)[:-1]) if num_vertices > 0 else []


def ordered_one_rings(faces: np.ndarray, num_vertices: int) -> np.ndarray:
    """(V, maxdeg) one-ring of every vertex of a closed manifold mesh in the faces' rotational order, -1
    padded: for a face (v, a, b), b follows a. Each ring starts at the vertex that follows v in the first
    face holding v."""
    f = np.asarray(faces, dtype=np.int64)
    V = num_vertices
    # corner entries (v, a, b) for every face (v, a, b) and its two rotations, in face order
    corners = np.stack([f, np.roll(f, -1, 1), np.roll(f, -2, 1)], 1).reshape(-1, 3)
    v, a, b = corners.T
    counts = np.bincount(v, minlength=V)
    if (counts[:V] == 0).any():
        raise ValueError(f"ordered_one_rings: vertex {int(np.argmin(counts[:V]))} is in no face")
    keys = _edge_keys(v, a, V)
    order = np.argsort(keys, kind="stable")
    succ = order[np.searchsorted(keys[order], _edge_keys(v, b, V))]  # entry (v, b, .) follows (v, a, .)
    first = np.full(V, len(corners))
    np.minimum.at(first, v, np.arange(len(corners)))
    deg = counts[:V]
    table = -np.ones((V, int(deg.max()) if V else 0), np.int64)
    cur = first
    for k in range(table.shape[1]):
        live = deg > k
        table[live, k] = a[cur[live]]
        cur = succ[cur]
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


_last_twins: tuple[tuple, np.ndarray] | None = None


def _half_edge_twins(faces: np.ndarray) -> np.ndarray:
    """(3F,) id of each half-edge's twin (-1 where none; the last in `directed_edges` order if several).
    Kept for the last mesh asked: `ClosedParts` walks the boundaries of every part of one mesh."""
    global _last_twins
    key = (faces.dtype.str, faces.shape, faces.tobytes())
    last = _last_twins  # one read: another thread may replace it
    if last is not None and last[0] == key:
        return last[1]
    V = int(faces.max()) + 1
    head, tail = faces.T.reshape(-1), np.roll(faces, -1, 1).T.reshape(-1)
    keys = _edge_keys(head, tail, V)
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    twin_keys = _edge_keys(tail, head, V)
    pos = (np.searchsorted(sorted_keys, twin_keys, side="right") - 1).clip(min=0)
    twin = np.where(sorted_keys[pos] == twin_keys, order[pos], -1)
    twin.flags.writeable = False
    _last_twins = (key, twin)
    return twin


def _walk_boundary(faces: np.ndarray, chosen: np.ndarray, starts: np.ndarray) -> list[np.ndarray]:
    """Boundary loops of the faces `chosen` (F,) bool: half-edges of chosen faces whose twin is missing or
    belongs to a face not chosen, linked head to tail. `starts`: ids (e * F + fi, as in `directed_edges`) of
    the chosen half-edges in the order loops begin. Faces hold each directed edge at most once.

    Where the region touches itself at a single vertex, its boundary passes through that vertex twice;
    walking around the vertex inside the region's own faces picks the continuation of the same wedge, so
    that every loop is simple.
    """
    F = len(faces)
    if F == 0 or len(starts) == 0:
        return []
    head = faces.T.reshape(-1)  # half-edge h = e * F + fi runs from faces[fi, e] to faces[fi, (e + 1) % 3]
    face_of = np.tile(np.arange(F), 3)
    following = (np.arange(3 * F) + F) % (3 * F)  # the next half-edge in the same face
    twin = _half_edge_twins(faces)
    inside = (twin >= 0) & chosen[face_of[twin]]  # twin in a chosen face: not on the boundary

    boundary = starts[~inside[starts]]
    out = following[boundary]  # rotate around the tail through the region's faces to its outgoing edge
    while True:
        turn = inside[out]
        if not turn.any():
            break
        out[turn] = following[twin[out[turn]]]
    succ = np.full(3 * F, -1)
    succ[boundary] = out
    loops, seen = [], np.zeros(3 * F, bool)
    for start in boundary.tolist():
        if seen[start]:
            continue
        loop, h = [], start
        while not seen[h]:
            seen[h] = True
            loop.append(h)
            h = succ[h]
        loops.append(head[np.asarray(loop, dtype=np.int64)])
    return loops


def boundary_loops(faces: np.ndarray | torch.Tensor) -> list[np.ndarray]:
    """Boundary loops of an open mesh as ordered vertex arrays, each following the faces' orientation; a loop
    starts at the first boundary half-edge in `directed_edges` order."""
    f = _as_array(faces).astype(np.int64).reshape(-1, 3)
    return _walk_boundary(f, np.ones(len(f), bool), np.arange(3 * len(f)))


def part_boundary_loops(faces: np.ndarray, in_part: np.ndarray) -> list[np.ndarray]:
    """Boundary loops of the faces `in_part` (F,) bool of a closed manifold mesh, following the faces'
    orientation (the rims along which `ClosedParts` caps a part)."""
    f = np.asarray(faces, dtype=np.int64)
    # Loops begin in the iteration order of a set of the part's face ids, as they always have: each loop's
    # first vertex, hence `ClosedParts`' tables and their float sums, stay as they were.
    part_faces = np.fromiter(set(np.flatnonzero(in_part).tolist()), np.int64)
    starts = (part_faces[:, None] + len(f) * np.arange(3)).reshape(-1)
    return _walk_boundary(f, np.asarray(in_part, bool), starts)


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
