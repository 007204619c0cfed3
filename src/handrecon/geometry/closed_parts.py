"""Exact winding numbers of a posed closed mesh, culled part by part (the accelerator of the penetration prior).

`ClosedParts` splits a closed mesh into parts (e.g. one per bone), each closed by caps over its boundary
loops. The winding number of a closed surface vanishes outside its convex hull, so a point needs evaluation
only against the parts whose bounds (a k-DOP) hold it; per-vertex inside tests on a hand then cost
thousands of solid angles instead of millions, with no approximation. `PosedParts` holds what the queries
at one pose share (cap apexes, bounds, per-triangle terms), so that several queries pay for it once.
The solid-angle sums and their precision are those of `geometry/winding.py`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import reverse_cuthill_mckee

from handrecon.geometry.topology import is_watertight, loop_components, ordered_one_rings, part_boundary_loops
from handrecon.geometry.winding import PAIRS_PER_CHUNK, check_batched, triangle_terms, winding_terms

# Largest triangle chunk of a closed part: bigger parts are split, so that all chunks share one padded size.
_TRIS_PER_CHUNK = 256


def _slab_directions(count: int) -> np.ndarray:
    """(count, 3) unit directions of the slabs that bound each piece: the three axes first (the box, tested
    for all pairs at once), then `count - 3` directions spread evenly over a hemisphere (a Fibonacci
    lattice; a slab needs one direction of each +-pair). Spread directions cut far more pairs than the
    same number of axis-aligned diagonals: the pieces are bent, tapered finger segments at any angle."""
    n = count - 3
    i = np.arange(n) + 0.5
    polar, azimuth = np.arccos(1 - i / n), np.pi * (1 + 5**0.5) * i
    spread = np.stack([np.cos(azimuth) * np.sin(polar), np.sin(azimuth) * np.sin(polar), np.cos(polar)], 1)
    return np.concatenate([np.eye(3), spread])


# 32 slabs: on the fit's poses of the dev photos they leave 22 % fewer pairs to evaluate than the former
# 13 axis-aligned and diagonal slabs (more slabs cut little more; their extents cost more).
_DOP_DIRECTIONS = _slab_directions(32)


def _cyclic_key(loop: np.ndarray) -> tuple[int, ...]:
    """The loop rotated to start at its smallest vertex id, to compare loops up to rotation."""
    i = int(np.argmin(loop))
    return tuple(np.roll(loop, -i).tolist())


def _split_triangles(tri: np.ndarray, limit: int) -> list[np.ndarray]:
    """Triangles (T, 3) cut into near-equal chunks of at most `limit`, each a compact patch: consecutive in a
    bandwidth-reducing (reverse Cuthill-McKee) order of the graph of triangles sharing a vertex, so that a
    chunk's triangles use few distinct points."""
    count = -(-len(tri) // limit)
    if count <= 1:
        return [tri]
    T = len(tri)
    incidence = coo_matrix((np.ones(3 * T), (np.repeat(np.arange(T), 3), tri.reshape(-1)))).tocsr()
    order = reverse_cuthill_mckee((incidence @ incidence.T).tocsr(), symmetric_mode=True)
    return [tri[part] for part in np.array_split(order, count)]


def _row_groups(counts: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows sorted by group, counts (G,) rows per group, cut into blocks of `size` rows of one group each:
    the group (S,) and rows (S, size) of each block, and which of those are real (S, size); the last block
    of a group repeats its last row, so every block is a full (size, 3) batch for one group's triangles."""
    blocks = -(-counts // size)
    group = np.repeat(np.arange(len(counts)), blocks)
    start = np.cumsum(counts) - counts
    within = np.arange(len(group)) - (np.cumsum(blocks) - blocks)[group]
    rows = (start[group] + size * within)[:, None] + np.arange(size)
    last = (start + counts - 1)[group][:, None]
    return group, np.minimum(rows, last), rows <= last


def _rows_per_block(rows: int, groups: int) -> int:
    """Query rows evaluated together against one chunk: padding wastes up to size - 1 rows per group, while
    each block pays for gathering its chunk's points and triangle terms (about one row's worth)."""
    per_group = rows / max(1, groups)
    return 4 if per_group < 32 else 8 if per_group < 128 else 16


def _cone_outside(x: torch.Tensor, b: torch.Tensor, v: torch.Tensor, parts: ClosedParts) -> torch.Tensor:
    """Exterior solid-angle fraction (M,) of the one-ring cone of vertices x[b, v] (x (B, V, 3)): the area of
    the spherical polygon of the unit ring directions, as signed triangles from a reference direction (the
    ring's mean normal), modulo 4 pi. The triangles' solid angles are those of `solid_angles` for unit
    vectors, tan(omega / 2) = det / (1 + a.b + a.c + b.c); the padding of a ring (the vertex itself, a zero
    direction) adds exactly 0."""
    X, flat = x.reshape(-1, 3), b * x.shape[1] + v
    nxt = parts.ring_next[v]  # position of the next vertex of the ring
    nxt3 = nxt[..., None].expand(-1, -1, 3)
    u = X[parts.ring_ids[v] + (flat - v)[:, None]] - X[flat][:, None]
    ref = torch.nn.functional.normalize(torch.cross(u, u.gather(1, nxt3), dim=-1).sum(1), dim=-1)[:, None]
    u = torch.nn.functional.normalize(u, dim=-1)
    un = u.gather(1, nxt3)
    det = (ref * torch.cross(u, un, dim=-1)).sum(-1)
    ab = (ref * u).sum(-1)
    den = (u * un).sum(-1).add_(ab).add_(ab.gather(1, nxt)).add_(1.0)
    area = torch.atan2(det, den).sum(1).mul_(2.0)
    return torch.remainder(area, 4 * math.pi).div_(4 * math.pi)


class ClosedParts:
    """A closed mesh split into K parts, each made a closed surface by fan caps over its boundary loops.

    faces (F, 3) of a closed, consistently oriented manifold mesh; labels (F,) part of each face in [0, K).
    Each cap is a fan from the centroid of its loop, recomputed for every pose. All caps together form
    another closed surface Z (the mesh's edges cancel out of the sum of the closed parts), so the whole
    mesh's winding number is sum_k w(part_k + caps_k) - w(Z). Z is split into its connected components
    (each closed, each culled by its own bounds): pieces 0..K-1 are the parts, pieces K.. the components of Z.

    For evaluation the triangles of each piece are cut into chunks of at most `_TRIS_PER_CHUNK` (a piece's
    winding number is the sum over its chunks), so that all chunks share one padded size and run in one
    batch. Queries go through `pose` (`PosedParts`); the methods here are shortcuts for a single query.
    """

    def __init__(self, faces: np.ndarray | torch.Tensor, labels: np.ndarray | torch.Tensor) -> None:
        f = np.asarray(faces.cpu() if isinstance(faces, torch.Tensor) else faces, dtype=np.int64)
        lab = np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels, dtype=np.int64)
        if lab.shape != (f.shape[0],) or lab.min() < 0:
            raise ValueError(f"need one label >= 0 per face: {f.shape[0]} faces, labels {lab.shape}")
        if not is_watertight(f):
            raise ValueError("ClosedParts needs a closed, consistently oriented mesh (e.g. HandModel.faces_closed)")
        K, V = int(lab.max()) + 1, int(f.max()) + 1
        self.num_parts, self.num_vertices = K, V
        loops = [part_boundary_loops(f, lab == k) for k in range(K)]
        flat_loops = [lp for part in loops for lp in part]
        table = -np.ones((len(flat_loops), max((len(lp) for lp in flat_loops), default=1)), np.int64)
        for j, lp in enumerate(flat_loops):
            table[j, : len(lp)] = lp
        self.loop_table = torch.from_numpy(table)  # (L, lmax) global vertex ids, -1 padded
        self.loop_ids, self.loop_valid = self.loop_table.clamp(min=0), self.loop_table >= 0
        # Z leaves out the caps of loops that two parts share exactly (same vertices, opposite directions:
        # same centroid, so their two caps cancel).
        owner = np.repeat(np.arange(K), [len(lp) for lp in loops])
        keys = {_cyclic_key(lp) for lp in flat_loops}
        z_loops = [j for j, lp in enumerate(flat_loops) if _cyclic_key(lp[::-1]) not in keys]
        # (a label without faces gives an empty part: one vertex, no area, never anything inside it)
        pieces = [
            (np.unique(f[lab == k]) if (lab == k).any() else f[:1, 0], f[lab == k], np.flatnonzero(owner == k))
            for k in range(K)
        ]
        for comp in loop_components([flat_loops[j] for j in z_loops]):
            own = np.asarray(z_loops)[comp]
            pieces.append((np.unique(np.concatenate([flat_loops[j] for j in own])), np.zeros((0, 3), np.int64), own))
        self.num_pieces = len(pieces)
        points, tris = [], []
        for ids, skin, own in pieces:  # points: ids into [vertices, loop centroids]; triangles over them
            local = {int(g): i for i, g in enumerate(ids.tolist())}
            tri = [np.vectorize(local.__getitem__, otypes=[np.int64])(skin)] if len(skin) else []
            for j, c in enumerate(own.tolist()):  # loop runs a -> b along the part's faces; cap: (centroid, b, a)
                lp = np.asarray([local[int(g)] for g in flat_loops[c]])
                tri.append(np.stack([np.full(len(lp), len(ids) + j), np.roll(lp, -1), lp], 1))
            points.append(np.concatenate([ids, V + own]))
            tris.append(np.concatenate(tri, 0) if tri else np.zeros((1, 3), np.int64))
        self.piece_sign = np.where(np.arange(self.num_pieces) < K, 1.0, -1.0)  # the mesh: parts minus Z
        self._build_chunks(points, tris)
        self._build_bounds([ids for ids, _, _ in pieces])
        self._build_rings(ordered_one_rings(f, V))

    def _build_chunks(self, points: list[np.ndarray], tris: list[np.ndarray]) -> None:
        """Chunk tables: the chunks of piece k are chunk_start[k] + (0 .. chunk_count[k] - 1) (NumPy); points
        (C, m) as ids into [vertices, loop centroids] padded with the chunk's last point, their centring
        weights (C, m), and the corners (C, 3T) of the triangles over the chunk's points (see
        `triangle_terms`), padded with (0, 0, 0) triangles (no area, solid angle 0)."""
        split = [_split_triangles(tri, _TRIS_PER_CHUNK) for tri in tris]
        chunks = [(k, part) for k, parts in enumerate(split) for part in parts]
        self.chunk_count = np.asarray([len(parts) for parts in split])
        self.chunk_start = np.cumsum(self.chunk_count) - self.chunk_count
        ids = [np.unique(part) for _, part in chunks]
        m, t = max(len(i) for i in ids), max(len(part) for _, part in chunks)
        self.chunk_points = torch.from_numpy(
            np.stack(
                [np.pad(points[k][i], (0, m - len(i)), mode="edge") for (k, _), i in zip(chunks, ids, strict=True)]
            )
        )
        self.chunk_weights = torch.from_numpy(
            np.stack([np.pad(np.full(len(i), 1 / len(i)), (0, m - len(i))) for i in ids])
        )
        local = [
            np.pad(np.searchsorted(i, part), ((0, t - len(part)), (0, 0)))
            for (_, part), i in zip(chunks, ids, strict=True)
        ]
        self.chunk_corners = torch.from_numpy(np.stack([tri.T.reshape(-1) for tri in local]))

    def _build_bounds(self, ids: list[np.ndarray]) -> None:
        """Bound tables of the pieces: (P, n) ids of each piece's mesh vertices, padded with its last one."""
        n = max(len(i) for i in ids)
        self.bound_ids = torch.from_numpy(np.stack([np.pad(i, (0, n - len(i)), mode="edge") for i in ids]))
        self.dop_directions = torch.from_numpy(_DOP_DIRECTIONS)

    def _build_rings(self, rings: np.ndarray) -> None:
        """One-ring tables (V, maxdeg) for the solid angle at each vertex: neighbour ids (-1 padded; in
        ring_ids padded with the vertex itself) and the position of each entry's cyclic successor."""
        valid = rings >= 0
        pos = np.broadcast_to(np.arange(rings.shape[1]), rings.shape)
        self.ring_ids = torch.from_numpy(np.where(valid, rings, np.arange(len(rings))[:, None]))
        self.ring_next = torch.from_numpy(np.where(np.roll(valid, -1, 1), np.roll(pos, -1, 1), 0))

    @property
    def num_chunks(self) -> int:
        return int(self.chunk_points.shape[0])

    def to(self, device: torch.device | str) -> ClosedParts:
        """A copy whose index tensors live on `device`."""
        new = object.__new__(ClosedParts)
        new.__dict__.update({k: (v.to(device) if isinstance(v, torch.Tensor) else v) for k, v in self.__dict__.items()})
        return new

    def pose(self, vertices: torch.Tensor) -> PosedParts:
        """The parts at the pose vertices (B, V, 3), for one or several queries."""
        return PosedParts(self, vertices)

    def _extended(self, x: torch.Tensor) -> torch.Tensor:
        """(B, V + L, 3): the vertices followed by the centroids of the boundary loops (the cap apexes)."""
        valid = self.loop_valid.to(x.dtype)
        centroid = (x[:, self.loop_ids] * valid[..., None]).sum(2) / valid.sum(1)[:, None]
        return torch.cat([x, centroid], 1)

    def _extents(self, proj: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """lo, hi (B, D, P): the extents of the pieces along D directions, from the projections proj (B, D, V)
        of the mesh's vertices (cap apexes are centroids of loop vertices: inside these bounds)."""
        B, D, n = proj.shape[0], proj.shape[1], self.bound_ids.shape[1]
        # (index_select along the last dim of a 3-d tensor is several times slower than of a 2-d one)
        pieces = proj.reshape(B * D, -1).index_select(1, self.bound_ids.reshape(-1)).view(B, D, -1, n)
        return pieces.amin(-1), pieces.amax(-1)

    @torch.no_grad()
    def part_winding_numbers(
        self, points: torch.Tensor, vertices: torch.Tensor, allowed: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Integer winding numbers (B, N, K) of points (B, N, 3) w.r.t. each closed part of the posed mesh
        vertices (B, V, 3); see `PosedParts.part_winding_numbers`."""
        check_batched(points, vertices)
        return self.pose(vertices).part_winding_numbers(points, allowed)

    @torch.no_grad()
    def winding_numbers(
        self,
        points: torch.Tensor,
        vertices: torch.Tensor,
        mask: torch.Tensor | None = None,
        known: torch.Tensor | None = None,
        known_parts: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Winding numbers (B, N), float64, of points w.r.t. the whole closed mesh vertices (B, V, 3); see
        `PosedParts.winding_numbers`."""
        check_batched(points, vertices)
        return self.pose(vertices).winding_numbers(points, mask, known, known_parts)

    @torch.no_grad()
    def vertex_sheets(self, vertices: torch.Tensor, mask: torch.Tensor, **known: torch.Tensor) -> torch.Tensor:
        """How many layers of the mesh enclose each of its own vertices (B, V) int32, where `mask` (B, V); see
        `PosedParts.vertex_sheets`."""
        return self.pose(vertices).vertex_sheets(mask, **known)


class PosedParts:
    """`ClosedParts` at one pose (B, V, 3). What the queries at a pose share (the pieces' bounds, the box
    test of the mesh's own vertices, the cap apexes and the chunks' triangle terms, the latter for the
    chunks a query needs) is computed at most once per pose (and set of chunks).

    A point is evaluated against a piece only inside the piece's k-DOP (its box, tested for all pairs at
    once, then the other slabs for the pairs that pass): exact, since a closed surface's winding number
    vanishes outside its convex hull. Pairs are flat indices (b * P + k) * N + n (point n of batch element
    b, piece k); their bookkeeping runs in NumPy, on arrays far too small for tensor operations to pay
    off. `points=None` in a query means the mesh's own vertices.
    """

    def __init__(self, parts: ClosedParts, vertices: torch.Tensor) -> None:
        if vertices.dim() != 3 or vertices.shape[1:] != (parts.num_vertices, 3):
            raise ValueError(f"vertices must be (B, {parts.num_vertices}, 3), got {tuple(vertices.shape)}")
        self.parts = parts
        self.vertices = vertices.detach().to(torch.float64)
        self._cache: dict[object, Any] = {}

    def _cached(self, key: object, make: Callable[[], Any]) -> Any:
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def _points(self, points: torch.Tensor | None) -> torch.Tensor:
        if points is None:
            return self.vertices
        check_batched(points, self.vertices)
        return points.detach().to(torch.float64)

    # ---- culling ----------------------------------------------------------------------------------

    def _slabs(self) -> tuple[torch.Tensor, torch.Tensor]:
        """A k-DOP around each piece (slabs along `_DOP_DIRECTIONS`), in float32 coordinates relative to the
        mesh's first vertex: |d . q - mid| <= half, mid and half (B, D, P). The margin, 1e-3 of the piece's
        extent plus 1e-5 of the mesh's, is far above float32 rounding (~1e-7 of the mesh's extent), so that
        culling stays exact."""

        def make() -> tuple[torch.Tensor, torch.Tensor]:
            lo, hi = self.parts._extents(self._projections(None))
            extent = (hi - lo).amax(1, keepdim=True)
            scale = (hi.amax(2) - lo.amin(2)).amax(1)[:, None, None]  # bounds |d . q| for the mesh's points
            return (lo + hi) / 2, (hi - lo) / 2 + 1e-3 * extent + 1e-5 * scale

        return self._cached("slabs", make)

    def _projections(self, points: torch.Tensor | None) -> torch.Tensor:
        """(B, D, N) float32 coordinates of the points (relative to the mesh's first vertex) along
        `_DOP_DIRECTIONS`."""

        def make(q: torch.Tensor) -> torch.Tensor:
            return self.parts.dop_directions.float() @ (q - self.vertices[:, :1]).float().transpose(1, 2)

        if points is None:
            return self._cached("projections", lambda: make(self.vertices))
        return make(self._points(points))

    def _candidates(self, points: torch.Tensor | None) -> np.ndarray:
        """(B, P, N) bool (NumPy): point inside the piece's box (the first three slabs of its k-DOP), the
        first test, of all pairs at once."""

        def make() -> np.ndarray:
            mid, half = (t[:, :3, :, None] for t in self._slabs())
            slack = (self._projections(points)[:, :3, None] - mid).abs_().sub_(half).amax(1)
            return slack.cpu().numpy() <= 0

        return self._cached("candidates", make) if points is None else make()

    def _dop_test(self, points: torch.Tensor | None, pairs: np.ndarray) -> np.ndarray:
        """Which of the pairs lie inside the piece's k-DOP (bool, NumPy)."""
        proj = self._projections(points)
        B, N, P = proj.shape[0], proj.shape[2], self.parts.num_pieces
        D = proj.shape[1]
        mid, half = (t.transpose(0, 1).reshape(D, B * P) for t in self._slabs())
        proj = proj.transpose(0, 1).reshape(D, B * N)
        piece = torch.from_numpy(pairs // N).to(proj.device)
        point = torch.from_numpy((pairs // (P * N)) * N + pairs % N).to(proj.device)
        slack = (proj.index_select(1, point) - mid.index_select(1, piece)).abs_() - half.index_select(1, piece)
        return slack.amax(0).cpu().numpy() <= 0

    # ---- evaluation -------------------------------------------------------------------------------

    def _tables(self, dtype: torch.dtype, used: np.ndarray) -> tuple[torch.Tensor, ...]:
        """For the rows `used` (sorted flat b * C + c: batch element b, chunk c): the chunk's centre (float64),
        its points centred on it, their triangles' corners, terms and radius (`triangle_terms`), in `dtype`.
        Only the chunks that some query needs are computed (a pose's queries usually touch a few)."""

        def centred() -> tuple[torch.Tensor, torch.Tensor]:
            P, C = self.parts, self.parts.num_chunks
            b, c = (torch.from_numpy(t).to(self.vertices.device) for t in (used // C, used % C))
            ext = self._cached("extended", lambda: P._extended(self.vertices))
            raw = ext[b[:, None], P.chunk_points[c]]  # (U, m, 3)
            centre = P.chunk_weights[c, None].to(raw.dtype) @ raw  # (U, 1, 3)
            return centre.reshape(-1, 3), raw - centre

        def make() -> tuple[torch.Tensor, ...]:
            centre, p = self._cached(("centred", key), centred)
            p = p.to(dtype)
            corners = self.parts.chunk_corners[torch.from_numpy(used % self.parts.num_chunks).to(p.device)]
            return (centre, p, corners, *triangle_terms(p, corners))

        key = used.tobytes()
        return self._cached(("tables", dtype, key), make)

    def _evaluate(self, points: torch.Tensor | None, mask: np.ndarray) -> tuple[np.ndarray, torch.Tensor]:
        """The pairs of mask (B, P, N) (NumPy) inside their piece's k-DOP and their winding numbers (M,),
        float64 (all other pairs of mask have winding number 0)."""
        pairs = np.flatnonzero(mask)
        if len(pairs):
            pairs = pairs[self._dop_test(points, pairs)]
        if not len(pairs):
            return pairs, self.vertices.new_zeros(0)
        return pairs, self._winding_pairs(self._points(points), pairs)

    def _winding_pairs(self, q: torch.Tensor, pairs: np.ndarray) -> torch.Tensor:
        """Winding numbers (M,) of the pairs (point q[b, n], piece k): the sums over the piece's chunks,
        evaluated as rows (b * C + c) * N + n sorted by chunk."""
        P, C, N = self.parts.num_pieces, self.parts.num_chunks, q.shape[1]
        piece = pairs // N % P
        count = self.parts.chunk_count[piece]
        pair = np.repeat(np.arange(len(pairs)), count)
        chunk = self.parts.chunk_start[piece][pair] + np.arange(len(pair)) - np.repeat(np.cumsum(count) - count, count)
        rows = (pairs[pair] // (P * N) * C + chunk) * N + pairs[pair] % N
        order = np.argsort(rows, kind="stable")
        w = self._winding_rows(q, rows[order], C)
        return w.new_zeros(len(pairs)).index_add_(0, torch.from_numpy(pair[order]).to(q.device), w)

    def _winding_rows(self, q: torch.Tensor, rows: np.ndarray, C: int) -> torch.Tensor:
        """Winding numbers (R,) for sorted flat rows (b * C + c) * N + n: point q[b, n] w.r.t. chunk c. Blocks
        of rows of one chunk share its distance table and one matrix product."""
        B, N, T = q.shape[0], q.shape[1], self.parts.chunk_corners.shape[1] // 3
        counts = np.bincount(rows // N, minlength=B * C)
        size = _rows_per_block(len(rows), np.count_nonzero(counts))
        group, index, real = _row_groups(counts, size)
        point = (rows // (C * N)) * N + rows % N  # index into the (B * N) points
        qb = q.reshape(-1, 3)[torch.from_numpy(point[index]).to(q.device)]  # (S, size, 3)
        used = np.flatnonzero(counts)  # the (batch element, chunk) rows the blocks need, and their positions
        group = torch.from_numpy(np.searchsorted(used, group)).to(q.device)
        step = max(1, PAIRS_PER_CHUNK // (size * T))
        w = [self._winding_blocks(qb[i : i + step], group[i : i + step], used) for i in range(0, len(group), step)]
        return (torch.cat(w) if len(w) > 1 else w[0])[torch.from_numpy(real).to(q.device)]

    def _winding_blocks(self, q: torch.Tensor, group: torch.Tensor, used: np.ndarray) -> torch.Tensor:
        """Winding numbers (S, n), float64, of blocks of points q (S, n, 3) w.r.t. chunks group (S,) (positions
        in `used`, the flat rows b * C + c of `_tables`): float32 sums, float64 for the points whose sign
        float32 cannot settle."""
        centre, p, corners, terms, radius = self._tables(torch.float32, used)
        corners = corners.index_select(0, group)
        q = q - centre.index_select(0, group)[:, None]
        take = [t.index_select(0, group) for t in (p, terms, radius)]
        w, flag = winding_terms(q.float(), take[0], corners, take[1], take[2])
        w = w.to(torch.float64)
        if flag.any():
            s, i = torch.nonzero(flag, as_tuple=True)
            _, p, _, terms, radius = self._tables(torch.float64, used)
            g = group[s]
            w[s, i] = winding_terms(q[s, i][:, None], p[g], corners[s], terms[g], radius[g])[0][:, 0]
        return w

    # ---- queries ----------------------------------------------------------------------------------

    def _allowed(self, allowed: torch.Tensor) -> np.ndarray:
        """(K, N) bool (NumPy) of `allowed` (N, K)."""
        return allowed.detach().cpu().numpy().T

    @torch.no_grad()
    def part_winding_numbers(
        self, points: torch.Tensor | None = None, allowed: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Integer winding numbers (B, N, K) of points (B, N, 3) w.r.t. each closed part; `allowed` (N, K)
        bool skips pairs (their result is 0). Points must not lie on the part's own surface (use `allowed`
        to skip a part's own vertices)."""
        K = self.parts.num_parts
        mask = self._candidates(points).copy()
        mask[:, K:] = False
        if allowed is not None:
            mask[:, :K] &= self._allowed(allowed)
        pairs, w = self._evaluate(points, mask)
        out = torch.zeros(mask.size, dtype=torch.int32, device=self.vertices.device)
        out[torch.from_numpy(pairs).to(out.device)] = torch.round(w).to(torch.int32)
        return out.view(mask.shape)[:, :K].transpose(1, 2)

    @torch.no_grad()
    def winding_numbers(
        self,
        points: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
        known: torch.Tensor | None = None,
        known_parts: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Winding numbers (B, N), float64, of points w.r.t. the whole closed mesh, exactly and piece by
        piece: the parts around the point minus the components of Z around it.

        mask (B, N) bool restricts the evaluation to some points (0 elsewhere). known (B, N, K) are part
        winding numbers already computed for the pairs known_parts (N, K) (e.g. by `part_winding_numbers`
        with allowed=known_parts); they are used instead of evaluating those pairs again.
        """
        K = self.parts.num_parts
        cand = self._candidates(points)
        cand = cand & mask.cpu().numpy()[:, None] if mask is not None else cand.copy()
        total = np.zeros((cand.shape[0], cand.shape[2]))
        if known is not None and known_parts is not None:
            reuse = self._allowed(known_parts)
            total += (known.detach().cpu().numpy().transpose(0, 2, 1) * (cand[:, :K] & reuse)).sum(1)
            cand[:, :K] &= ~reuse
        pairs, w = self._evaluate(points, cand)
        P, N = self.parts.num_pieces, cand.shape[2]
        sign = torch.from_numpy(self.parts.piece_sign[pairs // N % P]).to(w.device)  # the mesh: parts minus Z
        point = torch.from_numpy(pairs // (P * N) * N + pairs % N).to(w.device)
        out = torch.from_numpy(total.reshape(-1)).to(w.device)
        return out.index_add_(0, point, w * sign).view(total.shape)

    @torch.no_grad()
    def enclosed_vertices(self, allowed: torch.Tensor) -> torch.Tensor:
        """(B, V) bool: the mesh's own vertices that a closed part may enclose (`allowed` (V, K)) does
        enclose (integer winding number >= 1) and that lie inside the whole mesh (`vertex_sheets` >= 1).

        The same as `part_winding_numbers(allowed=allowed)`, then `vertex_sheets` with those as `known` on
        the vertices found inside a part, but with the pairs of both stages evaluated in one batch: the
        second stage's pairs are taken for every vertex with a first-stage pair inside its piece's k-DOP (a
        superset of the vertices the first stage finds inside, so nothing the second stage needs is left
        out), and each stage uses the winding numbers of its own pairs only."""
        K, P = self.parts.num_parts, self.parts.num_pieces
        cand = self._candidates(None)
        B, N = cand.shape[0], cand.shape[2]
        reuse = self._allowed(allowed)  # (K, N)
        first = cand.copy()
        first[:, K:] = False
        first[:, :K] &= reuse
        pairs = np.flatnonzero(first)
        if len(pairs):
            pairs = pairs[self._dop_test(None, pairs)]
        inside = torch.zeros(B, N, dtype=torch.bool, device=self.vertices.device)
        if not len(pairs):
            return inside
        point = pairs // (P * N) * N + pairs % N  # index into the (B * N) points
        maybe = np.zeros(B * N, dtype=bool)
        maybe[point] = True
        second = cand & maybe.reshape(B, 1, N)
        second[:, :K] &= ~reuse
        later = np.flatnonzero(second)
        if len(later):
            later = later[self._dop_test(None, later)]
        w = self._winding_pairs(self.vertices, np.concatenate([pairs, later]))
        # first stage: the parts' integer winding numbers; inside one of them: a candidate for the second
        parts = torch.round(w[: len(pairs)]).to(torch.int32)
        hit = point[(parts >= 1).cpu().numpy()]
        if not len(hit):
            return inside
        found = np.zeros(B * N, dtype=bool)
        found[hit] = True
        # second stage: the whole mesh's winding number at the vertices found (see `winding_numbers`): the
        # parts' integer values already known plus the other pieces' (parts minus the components of Z)
        total = np.bincount(point, weights=parts.cpu().numpy() * found[point], minlength=B * N)
        later_point = later // (P * N) * N + later % N
        keep = found[later_point]
        sign = torch.from_numpy(self.parts.piece_sign[later[keep] // N % P]).to(w.device)
        w_later = w[len(pairs) :][torch.from_numpy(keep).to(w.device)] * sign
        out = torch.from_numpy(total).to(w.device)
        out.index_add_(0, torch.from_numpy(later_point[keep]).to(w.device), w_later)
        b, v = torch.nonzero(torch.from_numpy(found.reshape(B, N)).to(w.device), as_tuple=True)
        layers = torch.round(out.view(B, N)[b, v] - (1 - _cone_outside(self.vertices, b, v, self.parts)))
        inside[b, v] = layers >= 1
        return inside

    @torch.no_grad()
    def vertex_sheets(
        self, mask: torch.Tensor, known: torch.Tensor | None = None, known_parts: torch.Tensor | None = None
    ) -> torch.Tensor:
        """How many layers of the mesh enclose each of its own vertices (B, V) int32, where `mask` (B, V);
        `known` / `known_parts` as in `winding_numbers`.

        At a vertex the winding number is the interior solid-angle fraction of its own one-ring cone plus
        the number of other sheets around it; the fraction is the area of the spherical polygon of the ring
        directions (signed triangles from the vertex normal, taken modulo 4 pi), so the difference is an
        integer up to rounding. Non-zero means the vertex is inside the closed mesh.
        """
        x, P = self.vertices, self.parts
        w = self.winding_numbers(None, mask, known, known_parts)
        b, v = torch.nonzero(mask, as_tuple=True)
        sheets = torch.zeros(mask.shape, dtype=torch.int32, device=x.device)
        sheets[b, v] = torch.round(w[b, v] - (1 - _cone_outside(x, b, v, P))).to(torch.int32)
        return sheets
