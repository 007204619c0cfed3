"""Generalized winding numbers (Jacobson, Kavan and Sorkine-Hornung, SIGGRAPH 2013).

The winding number of a point q with respect to a closed, outward-oriented triangle mesh is the sum of the
signed solid angles of its triangles seen from q, divided by 4 pi: 1 inside, 0 outside, 1/2 on the surface
(the local solid-angle fraction at edges and corners). Each solid angle uses the formula of Van Oosterom
and Strackee (IEEE TBME 1983). Winding numbers stay well defined when the mesh intersects itself, which a
posed hand mesh does exactly when it penetrates itself.

`ClosedParts` splits a closed mesh into parts (e.g. one per bone), each closed by caps over its boundary
loops. The winding number of a closed surface vanishes outside its convex hull, so a point needs evaluation
only against the parts whose bounding box holds it; per-vertex inside tests on a hand then cost thousands
of solid angles instead of millions, with no approximation.

Precision: sums run in float32, and every point lying so close to some triangle's plane that rounding
could put it on the wrong side is evaluated again in float64. The side of the surface a point is on (the
integer part) is therefore as reliable as float64 arithmetic, while fractional values carry float32
rounding (about 1e-6 per triangle). Winding numbers are piecewise constant: nothing here carries a gradient.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from handrecon.geometry.mesh import is_watertight

# Candidate pairs (query point x triangle) evaluated at once; bounds the temporaries to a few tens of MB.
_PAIRS_PER_CHUNK = 1 << 19


def solid_angles(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """Signed solid angles (...,) in (-2 pi, 2 pi) of triangles with corners at a, b, c (..., 3), seen from
    the origin; positive when the triangle winds counter-clockwise seen from the origin's far side (so an
    outward-oriented closed mesh sums to 4 pi from inside). A corner at the origin gives 0."""
    la, lb, lc = a.norm(dim=-1), b.norm(dim=-1), c.norm(dim=-1)
    det = (a * torch.cross(b, c, dim=-1)).sum(-1)
    den = la * lb * lc + (a * b).sum(-1) * lc + (a * c).sum(-1) * lb + (b * c).sum(-1) * la
    ang = 2.0 * torch.atan2(det, den)
    return ang.masked_fill((la == 0) | (lb == 0) | (lc == 0), 0.0)


def _grouped_winding(q: torch.Tensor, p: torch.Tensor, tri: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Winding numbers (G, n) of points q (G, n, 3) w.r.t. the triangles tri (G, T, 3) over the points
    p (G, m, 3) of each group, in the inputs' dtype, and a (G, n) flag of the points whose sign is uncertain.

    `solid_angles` rewritten for throughput: the corner distances come from one (m, n) table per group and
    the triple products from one matrix product; with a = A - q etc. and n = (B - A) x (C - A),
    a.b = (|a|^2 + |b|^2 - |A - B|^2) / 2 and det[a, b, c] = A.n - q.n. Coordinates must be centred on the
    group: det then has a rounding error below ~64 eps R |n| (R: the group's radius), and a point is flagged
    when it lies that close to the plane of a triangle it sees at an angle near +-pi (den not clearly > 0).
    """
    G, n, T = q.shape[0], q.shape[1], tri.shape[1]
    m = p.shape[1]
    flat = (tri + (torch.arange(G, device=tri.device) * m)[:, None, None]).reshape(G * T, 3)
    pf = p.reshape(G * m, 3)
    A, B, C = (pf[flat[:, i]].view(G, T, 3) for i in range(3))
    normal = torch.cross(B - A, C - A, dim=-1)
    # Layout (G, T, n): gathering whole rows of the (m, n) distance table is a plain copy.
    det = (A * normal).sum(-1)[:, :, None] - torch.bmm(normal, q.transpose(1, 2))
    dist = torch.cdist(p, q, compute_mode="donot_use_mm_for_euclid_dist")  # (G, m, n), exact differences
    lengths = torch.index_select(dist.reshape(G * m, n), 0, flat.T.reshape(-1)).view(3, G, T, n)
    la, lb, lc = lengths.unbind(0)
    la2, lb2, lc2 = (lengths * lengths).unbind(0)
    e_ab, e_ac, e_bc = (((X - Y) ** 2).sum(-1)[..., None] for X, Y in ((A, B), (A, C), (B, C)))
    den = (la2 + lb2).sub_(e_ab).mul_(lc)
    den.add_((la2 + lc2).sub_(e_ac).mul_(lb)).add_((lb2 + lc2).sub_(e_bc).mul_(la)).mul_(0.5)
    den.addcmul_(la * lb, lc)
    ang = torch.atan2(det, den)
    radius = torch.maximum(p.norm(dim=-1).amax(1), q.norm(dim=-1).amax(1))
    tol = 64 * torch.finfo(p.dtype).eps * radius[:, None] * normal.norm(dim=-1)
    near = det.abs_() < tol[:, :, None]  # (det is not needed any more)
    if (dist == 0).any():  # a point on a mesh vertex: the triangles around it count 0 (rare, masked only then)
        at_corner = (lengths == 0).any(0)
        ang, near = ang.masked_fill(at_corner, 0.0), near & ~at_corner
    # Near a plane, the sign of det matters only where the angle is close to +-pi, i.e. den is not clearly
    # positive (its rounding error is below 64 eps l^3, l the longest corner distance).
    g, t, i = torch.nonzero(near, as_tuple=True)
    longest = lengths[:, g, t, i].amax(0)
    risky = den[g, t, i] < 64 * torch.finfo(p.dtype).eps * longest**3
    flag = torch.zeros(G, n, dtype=torch.bool, device=q.device)
    flag[g[risky], i[risky]] = True
    return ang.sum(1) / (2.0 * math.pi), flag


def _exact_grouped_winding(q: torch.Tensor, p: torch.Tensor, tri: torch.Tensor) -> torch.Tensor:
    """`_grouped_winding` of float64 inputs with float64 results: float32 sums, float64 for flagged points."""
    centre = p.mean(1, keepdim=True)
    q, p = q - centre, p - centre
    w, flag = _grouped_winding(q.float(), p.float(), tri)
    w = w.to(torch.float64)
    if flag.any():
        for g in torch.nonzero(flag.any(1))[:, 0].tolist():
            rows = torch.nonzero(flag[g])[:, 0]
            w[g, rows] = _grouped_winding(q[g : g + 1, rows], p[g : g + 1], tri[g : g + 1])[0][0]
    return w


def _check_batched(points: torch.Tensor, vertices: torch.Tensor) -> None:
    if points.dim() != 3 or points.shape[-1] != 3 or vertices.dim() != 3 or vertices.shape[-1] != 3:
        raise ValueError(
            f"expected points (B, N, 3) and vertices (B, V, 3), got {tuple(points.shape)}, {tuple(vertices.shape)}"
        )
    if points.shape[0] != vertices.shape[0]:
        raise ValueError(f"batch sizes differ: points {points.shape[0]}, vertices {vertices.shape[0]}")


@torch.no_grad()
def winding_numbers(points: torch.Tensor, vertices: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """Generalized winding numbers (B, N), float64, of points (B, N, 3) w.r.t. the meshes vertices (B, V, 3),
    faces (F, 3): every triangle summed (see the module's note on precision), chunked over points so that
    memory stays bounded."""
    _check_batched(points, vertices)
    B, N = points.shape[:2]
    tri = faces.to(device=points.device, dtype=torch.long).expand(B, -1, -1)
    p, q = vertices.detach().to(torch.float64), points.detach().to(torch.float64)
    chunk = max(1, _PAIRS_PER_CHUNK // max(1, B * tri.shape[1]))
    out = [_exact_grouped_winding(q[:, i : i + chunk], p, tri) for i in range(0, N, chunk)]
    return torch.cat(out, 1) if out else q.new_zeros(B, 0)


def inside(points: torch.Tensor, vertices: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """(B, N) bool: winding number > 1/2, i.e. inside the closed mesh (points on it are ambiguous)."""
    return winding_numbers(points, vertices, faces) > 0.5


# ---------------------------------------------------------------------------------------------------
# Closed parts: a partition of a closed mesh, each part closed by caps, for culled exact evaluation.


def _part_boundary_loops(faces: np.ndarray, in_part: np.ndarray) -> list[np.ndarray]:
    """Boundary loops of the faces `in_part` of a closed manifold mesh, following the faces' orientation.

    Where a part touches itself at a single vertex, its boundary passes through that vertex twice; walking
    around the vertex inside the part's own faces picks the continuation of the same wedge, so that every
    loop is simple.
    """
    owner = {}
    for fi, (a, b, c) in enumerate(faces.tolist()):
        owner[(a, b)], owner[(b, c)], owner[(c, a)] = fi, fi, fi
    part_faces = set(np.flatnonzero(in_part).tolist())

    def after(fi: int, v: int) -> int:  # the vertex following v in face fi
        f = faces[fi].tolist()
        return f[(f.index(v) + 1) % 3]

    nxt = {}
    for fi in part_faces:
        for e in range(3):
            u, v = int(faces[fi, e]), int(faces[fi, (e + 1) % 3])
            if owner[(v, u)] in part_faces:
                continue
            w = after(fi, v)  # rotate around v through the part's faces to its outgoing boundary edge
            while owner[(w, v)] in part_faces:
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


def _one_rings(faces: np.ndarray, num_vertices: int) -> np.ndarray:
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


def _cyclic_key(loop: np.ndarray) -> tuple[int, ...]:
    """The loop rotated to start at its smallest vertex id, to compare loops up to rotation."""
    i = int(np.argmin(loop))
    return tuple(np.roll(loop, -i).tolist())


def _size_buckets(sizes: list[int], ratio: float = 2.0) -> list[list[int]]:
    """Indices grouped so that sizes within a group differ by at most `ratio` (bounds padding waste)."""
    order = sorted(range(len(sizes)), key=lambda i: sizes[i])
    buckets: list[list[int]] = []
    for i in order:
        if buckets and sizes[i] <= ratio * max(1, sizes[buckets[-1][0]]):
            buckets[-1].append(i)
        else:
            buckets.append([i])
    return buckets


def _row_blocks(counts: list[int], num_tri: int, first: int = 32) -> list[tuple[int, int, int]]:
    """Blocks (groups, row start, row end) covering padded rows of groups sorted by decreasing count.

    Block boundaries double (32, 64, 128, ...) and only the groups with rows left take part, so padding
    never more than doubles the work; blocks are split further to respect the memory budget.
    """
    blocks, start, end = [], 0, first
    while start < counts[0]:
        g = sum(c > start for c in counts)
        step = max(1, _PAIRS_PER_CHUNK // (g * num_tri))
        stop = min(end, counts[0])
        blocks += [(g, i, min(i + step, stop)) for i in range(start, stop, step)]
        start, end = stop, 2 * end
    return blocks


class ClosedParts:
    """A closed mesh split into K parts, each made a closed surface by fan caps over its boundary loops.

    faces (F, 3) of a closed, consistently oriented manifold mesh; labels (F,) part of each face in [0, K).
    Each cap is a fan from the centroid of its loop, recomputed for every pose. All caps together form
    another closed surface Z (the mesh's edges cancel out of the sum of the closed parts), so the whole
    mesh's winding number is sum_k w(part_k + caps_k) - w(Z); Z is piece K after the K parts.
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
        loops = [_part_boundary_loops(f, lab == k) for k in range(K)]
        flat_loops = [lp for part in loops for lp in part]
        table = -np.ones((len(flat_loops), max((len(lp) for lp in flat_loops), default=1)), np.int64)
        for j, lp in enumerate(flat_loops):
            table[j, : len(lp)] = lp
        self.loop_table = torch.from_numpy(table)  # (L, lmax) global vertex ids, -1 padded
        # Pieces 0..K-1: the parts; piece K: the caps surface Z, without the caps of loops that two parts
        # share exactly (same vertices, opposite directions: same centroid, so their two caps cancel).
        owner = np.repeat(np.arange(K), [len(lp) for lp in loops])
        keys = {_cyclic_key(lp) for lp in flat_loops}
        z_loops = [j for j, lp in enumerate(flat_loops) if _cyclic_key(lp[::-1]) not in keys]
        # (a label without faces gives an empty part: one vertex, no area, never anything inside it)
        pieces = [
            (np.unique(f[lab == k]) if (lab == k).any() else f[:1, 0], f[lab == k], np.flatnonzero(owner == k))
            for k in range(K)
        ]
        z_ids = np.unique(np.concatenate([flat_loops[j] for j in z_loops])) if z_loops else np.zeros(1, np.int64)
        pieces.append((z_ids, np.zeros((0, 3), np.int64), np.asarray(z_loops, np.int64)))
        points, tris = [], []
        for ids, skin, own in pieces:  # points: ids into [vertices, loop centroids]; triangles over them
            local = {int(g): i for i, g in enumerate(ids.tolist())}
            tri = [np.vectorize(local.__getitem__, otypes=[np.int64])(skin)] if len(skin) else []
            for j, c in enumerate(own.tolist()):  # loop runs a -> b along the part's faces; cap: (centroid, b, a)
                lp = np.asarray([local[int(g)] for g in flat_loops[c]])
                tri.append(np.stack([np.full(len(lp), len(ids) + j), np.roll(lp, -1), lp], 1))
            points.append(np.concatenate([ids, V + own]))
            tris.append(np.concatenate(tri, 0) if tri else np.zeros((1, 3), np.int64))
        self.piece_sizes = [(len(p), len(t)) for p, t in zip(points, tris, strict=True)]
        m_max, t_max = max(s[0] for s in self.piece_sizes), max(s[1] for s in self.piece_sizes)
        pt = np.stack([np.pad(p, (0, m_max - len(p)), constant_values=p[0]) for p in points])
        tt = np.stack([np.pad(t, ((0, t_max - len(t)), (0, 0))) for t in tris])  # padding: (0, 0, 0), no area
        self.piece_points, self.piece_tris = torch.from_numpy(pt), torch.from_numpy(tt)
        self.buckets = _size_buckets([max(128, s[1]) for s in self.piece_sizes])
        vt = -np.ones((K + 1, max(len(p[0]) for p in pieces)), np.int64)
        for k, (ids, _, _) in enumerate(pieces):
            vt[k, : len(ids)] = ids
        self.piece_vertex_table = torch.from_numpy(vt)  # (K + 1, nmax) mesh vertices of each piece, -1 padded
        self.rings = torch.from_numpy(_one_rings(f, V))  # (V, maxdeg), for the solid angle at each vertex

    def to(self, device: torch.device | str) -> ClosedParts:
        """A copy whose index tensors live on `device`."""
        new = object.__new__(ClosedParts)
        new.__dict__.update({k: (v.to(device) if isinstance(v, torch.Tensor) else v) for k, v in self.__dict__.items()})
        return new

    def _extended(self, x: torch.Tensor) -> torch.Tensor:
        """(B, V + L, 3): the vertices followed by the centroids of the boundary loops (the cap apexes)."""
        valid = (self.loop_table >= 0).to(x.dtype)
        centroid = (x[:, self.loop_table.clamp(min=0)] * valid[..., None]).sum(2) / valid.sum(1)[:, None]
        return torch.cat([x, centroid], 1)

    @torch.no_grad()
    def boxes(self, vertices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Oriented bounding boxes of the K parts and of the caps surface Z (last): centre (B, K+1, 3), axes
        (B, K+1, 3, 3) (columns), lo, hi (B, K+1, 3).

        Axes are the principal directions of each piece's vertices: any orthonormal frame gives a valid box,
        and this one is tight for elongated parts such as phalanges. Cap apexes are centroids of the piece's
        vertices, so the box holds the whole closed piece.
        """
        x = vertices.to(torch.float64)
        table = self.piece_vertex_table
        valid = (table >= 0)[None, :, :, None]
        pts = x[:, table.clamp(min=0)]  # (B, K, nmax, 3)
        centre = (pts * valid).sum(2) / valid.sum(2)
        rel = (pts - centre[:, :, None]) * valid
        axes = torch.linalg.eigh(rel.transpose(-1, -2) @ rel)[1]
        proj = rel @ axes
        lo = torch.where(valid, proj, torch.inf).amin(2)
        hi = torch.where(valid, proj, -torch.inf).amax(2)
        return centre, axes, lo, hi

    def _evaluate(
        self, q: torch.Tensor, ext: torch.Tensor, b: torch.Tensor, n: torch.Tensor, k: torch.Tensor
    ) -> torch.Tensor:
        """Winding numbers (M,) of points q[b, n] w.r.t. pieces k, over the extended points ext (B, V+L, 3).

        Candidates are grouped by (batch element, piece) into padded blocks, one block per bucket of pieces
        of similar size, so that a group shares one distance table and one matrix product.
        """
        out = q.new_zeros(b.shape[0])
        stride = self.num_parts + 1
        for bucket in self.buckets:
            sel = torch.nonzero(torch.isin(k, torch.as_tensor(bucket, device=k.device)))[:, 0]
            if sel.numel() == 0:
                continue
            groups, inverse, counts = torch.unique(b[sel] * stride + k[sel], return_inverse=True, return_counts=True)
            # Groups sorted by decreasing size, so that the groups still active at row i are a prefix.
            counts, rank = torch.sort(counts, descending=True)
            groups, inverse = groups[rank], torch.argsort(rank)[inverse]
            order = torch.argsort(inverse, stable=True)
            slot = torch.empty_like(order)
            slot[order] = (
                torch.arange(order.numel(), device=b.device) - (torch.cumsum(counts, 0) - counts)[inverse[order]]
            )
            points = q[b[sel], n[sel]]
            first = order[torch.cumsum(counts, 0) - counts]  # padding repeats a point of the group itself
            padded = points[first][:, None].repeat(1, int(counts[0]), 1)
            padded[inverse, slot] = points
            m = max(self.piece_sizes[i][0] for i in bucket)
            t = max(self.piece_sizes[i][1] for i in bucket)
            p = ext[(groups // stride)[:, None], self.piece_points[groups % stride, :m]]  # (G, m, 3)
            tri = self.piece_tris[groups % stride, :t]
            w = torch.zeros(padded.shape[:2], dtype=q.dtype, device=q.device)
            for g, i, j in _row_blocks(counts.tolist(), t):
                w[:g, i:j] = _exact_grouped_winding(padded[:g, i:j], p[:g], tri[:g])
            out[sel] = w[inverse, slot]
        return out

    def _candidates(self, q: torch.Tensor, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """(B, N, K+1) bool: point inside the piece's oriented bounding box (with a rounding margin); only
        the points in `mask` (B, N) when given."""
        centre, axes, lo, hi = self.boxes(x)
        lo, hi = lo - 1e-9 * (hi - lo).amax(-1, keepdim=True), hi + 1e-9 * (hi - lo).amax(-1, keepdim=True)
        if mask is None:
            proj = torch.einsum("bnc,bkcd->bnkd", q, axes) - torch.einsum("bkc,bkcd->bkd", centre, axes)[:, None]
            return ((proj >= lo[:, None]) & (proj <= hi[:, None])).all(-1)
        b, n = torch.nonzero(mask, as_tuple=True)
        proj = torch.einsum("mkc,mkcd->mkd", q[b, n][:, None] - centre[b], axes[b])
        out = torch.zeros(*q.shape[:2], self.num_parts + 1, dtype=torch.bool, device=q.device)
        out[b, n] = ((proj >= lo[b]) & (proj <= hi[b])).all(-1)
        return out

    @torch.no_grad()
    def part_winding_numbers(
        self, points: torch.Tensor, vertices: torch.Tensor, allowed: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Integer winding numbers (B, N, K) of points (B, N, 3) w.r.t. each closed part of the posed mesh
        vertices (B, V, 3); `allowed` (N, K) bool skips pairs (their result is 0).

        A point outside a part's bounding box gets 0 without evaluation (exact: a closed surface's winding
        number vanishes outside its convex hull). Points must not lie on the part's own surface (use
        `allowed` to skip a part's own vertices).
        """
        _check_batched(points, vertices)
        q, x = points.detach().to(torch.float64), vertices.detach().to(torch.float64)
        cand = self._candidates(q, x)[..., : self.num_parts]
        if allowed is not None:
            cand &= allowed.to(cand.device)[None]
        out = torch.zeros(cand.shape, dtype=torch.int32, device=q.device)
        b, n, k = torch.nonzero(cand, as_tuple=True)
        if b.numel():
            out[b, n, k] = torch.round(self._evaluate(q, self._extended(x), b, n, k)).to(torch.int32)
        return out

    @torch.no_grad()
    def winding_numbers(
        self,
        points: torch.Tensor,
        vertices: torch.Tensor,
        mask: torch.Tensor | None = None,
        known: torch.Tensor | None = None,
        known_parts: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Winding numbers (B, N), float64, of points w.r.t. the whole closed mesh, exactly and part by part:
        the parts whose box holds the point, minus the caps surface Z if its box holds the point.

        mask (B, N) bool restricts the evaluation to some points (0 elsewhere). known (B, N, K) are part
        winding numbers already computed for the pairs known_parts (N, K) (e.g. by `part_winding_numbers`
        with allowed=known_parts); they are used instead of evaluating those pairs again.
        """
        _check_batched(points, vertices)
        q, x = points.detach().to(torch.float64), vertices.detach().to(torch.float64)
        cand = self._candidates(q, x, mask)
        total = q.new_zeros(q.shape[:2])
        if known is not None and known_parts is not None:
            reuse = cand[..., : self.num_parts] & known_parts[None]
            total += (known.to(q.dtype) * reuse).sum(-1)
            cand[..., : self.num_parts] &= ~reuse
        b, n, k = torch.nonzero(cand, as_tuple=True)
        w = self._evaluate(q, self._extended(x), b, n, k)
        w = torch.where(k == self.num_parts, -w, w)  # the mesh is the parts minus Z
        return total.index_put((b, n), w, accumulate=True)

    @torch.no_grad()
    def vertex_sheets(self, vertices: torch.Tensor, mask: torch.Tensor, **known: torch.Tensor) -> torch.Tensor:
        """How many layers of the mesh enclose each of its own vertices (B, V) int32, where `mask` (B, V);
        `known` / `known_parts` as in `winding_numbers`.

        At a vertex the winding number is the interior solid-angle fraction of its own one-ring cone plus
        the number of other sheets around it; the fraction is the area of the spherical polygon of the ring
        directions (signed triangles from the vertex normal, taken modulo 4 pi), so the difference is an
        integer up to rounding. Non-zero means the vertex is inside the closed mesh.
        """
        x = vertices.detach().to(torch.float64)
        w = self.winding_numbers(x, x, mask, **known)
        b, v = torch.nonzero(mask, as_tuple=True)
        ring = self.rings[v]  # (M, deg)
        valid = ring >= 0
        nxt = torch.where(valid.roll(-1, 1), ring.roll(-1, 1), ring[:, :1])  # cyclic successor in the ring
        u = x[b[:, None], ring.clamp(min=0)] - x[b, v][:, None]
        un = x[b[:, None], nxt.clamp(min=0)] - x[b, v][:, None]
        ref = torch.nn.functional.normalize((torch.cross(u, un, dim=-1) * valid[..., None]).sum(1), dim=-1)
        u, un = torch.nn.functional.normalize(u, dim=-1), torch.nn.functional.normalize(un, dim=-1)
        area = (solid_angles(ref[:, None].expand_as(u), u, un) * valid).sum(1)
        outside = torch.remainder(area, 4 * math.pi) / (4 * math.pi)  # exterior fraction of the cone
        sheets = torch.zeros(mask.shape, dtype=torch.int32, device=x.device)
        sheets[b, v] = torch.round(w[b, v] - (1 - outside)).to(torch.int32)
        return sheets
