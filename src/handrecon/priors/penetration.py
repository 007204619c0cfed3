"""Penetration priors: the non-penetration loss of one hand (eq. 4 of the knowledge-prior paper, Zhang et al.) and the
two-hand penetration term used to resolve colliding hands (the interaction-prior paper, Zuo et al., sec. 3.4).

Single hand (eq. 4): L = sum over vertices v inside the hand of max(d(v) - d_tol, 0), where d(v) is the
distance from v to the nearest vertex that is not its geodesic neighbour (farther than ~one phalanx, 2 cm,
along the skin) and d_tol = 6 mm absorbs the soft-tissue compression a rigid template cannot model.

Which vertices are inside: a vertex lies on the surface, so what matters is whether another part of the
hand encloses it. The hand is split into parts, one per bone (the faces skinned mostly to it), each
closed by caps over its boundary loops (`ClosedParts`). A vertex counts as inside when
  (a) its generalized winding number is >= 1 with respect to a closed part that touches none of the
      vertex's own parts (touch: share a vertex on the template, or meet at a joint), and
  (b) the whole closed hand mesh encloses it: its winding number, less the solid-angle fraction of its
      own one-ring, is >= 1 (so no vertex outside the mesh is ever counted).
Condition (a) leaves out the self-intersections that linear blend skinning produces in the creases of a
flexed joint (the palm side of a phalanx sinking into the next one): they are artefacts of the model, not
collisions between parts of the hand, and with them a relaxed fist of the bundled model would count as
penetrating by ~1 cm (d(v) of a crease vertex is the distance to the skin beyond the crease). Fingertips
into the palm, fingers into fingers and the thumb into the palm all involve parts that do not touch.

Cost: a closed part's winding number vanishes outside its convex hull, so a vertex is evaluated (exactly,
every triangle of the part) only against the parts whose bounds (a k-DOP of 32 slabs) hold it, and (b)
only for the vertices that may pass (a), with both stages' pairs in one batch on the same posed parts
(`PosedParts.enclosed_vertices`: bounds and triangle terms computed once, for the chunks in use only); a
rest pose needs no evaluation at all. The inside test and the choice of the
nearest vertex u are made without gradient; d(v) = |v - u| is then differentiable in both v and u, so a
gradient step moves v towards the surface it went through (and that surface towards v).

Two hands: each hand's vertices are tested against the other hand's whole closed mesh (winding number
> 1/2, evaluated part by part) and an inside vertex costs its distance to the nearest point on the other
hand's surface.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from handrecon.geometry.closed_parts import ClosedParts
from handrecon.geometry.geodesic import geodesic_neighbors
from handrecon.geometry.mesh import closest_points_on_triangles
from handrecon.geometry.topology import face_adjacency
from handrecon.hand.tolerances import PENETRATION_TOLERANCE_M
from handrecon.priors.reduction import Reduction, reduce_batch

# Sec. 3.2 of the knowledge-prior paper: tolerance of eq. 4 and the geodesic radius of a vertex's neighbourhood (the
# average length of a phalanx).
D_TOL: float = PENETRATION_TOLERANCE_M
GEODESIC_RADIUS: float = 0.02
# Query rows per chunk in the nearest-vertex / nearest-triangle searches (bounds memory for big batches).
_ROWS_PER_CHUNK = 256


def hand_part_labels(faces: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Part (bone) of each face (F,): the bone with the largest skinning weight summed over its corners.

    Each part is made one connected region: smaller islands go to the part they share most edges with,
    so that every part is a solid piece of the hand once closed.
    """
    labels = weights[faces].sum(1).argmax(1)
    adj = face_adjacency(faces)
    for _ in range(10):
        same = labels[adj[:, 0]] == labels[adj[:, 1]]
        g = coo_matrix((np.ones(same.sum()), (adj[same, 0], adj[same, 1])), shape=(len(faces),) * 2)
        _, comp = connected_components(g, directed=False)
        size = np.bincount(comp)
        keep = np.zeros(len(size), bool)
        for k in np.unique(labels):
            comps = np.unique(comp[labels == k])
            keep[comps[np.argmax(size[comps])]] = True
        if keep[comp].all():
            return labels
        new = labels.copy()
        for c in np.flatnonzero(~keep):
            border = adj[(comp[adj[:, 0]] == c) != (comp[adj[:, 1]] == c)]
            other = np.where(comp[border[:, 0]] == c, labels[border[:, 1]], labels[border[:, 0]])
            new[comp == c] = np.bincount(other).argmax()
        labels = new
    raise RuntimeError("could not make the hand parts connected")


@dataclass
class HandCollider:
    """Static data for penetration tests of one hand model, built once per model (see `collider_for`).

    parts: the closed mesh split into closed parts; allowed (V, K): part k may enclose vertex v (it touches
    none of v's parts); neighbors (V, V): geodesic neighbours on the rest template; faces_closed (F, 3).
    """

    parts: ClosedParts
    allowed: torch.Tensor
    neighbors: torch.Tensor
    faces_closed: torch.Tensor

    @classmethod
    def from_hand_model(cls, model, geodesic_radius: float = GEODESIC_RADIUS) -> HandCollider:
        """From a `HandModel` (its skinning weights, kinematic tree, closed faces and rest template)."""
        faces = model.faces_closed.detach().cpu().numpy()
        weights = model.lbs_weights.detach().cpu().double().numpy()
        labels = hand_part_labels(faces, weights)
        V, K = weights.shape
        touches = np.zeros((V, K), bool)
        touches[faces.reshape(-1), np.repeat(labels, 3)] = True
        adjacent = (touches.T.astype(np.int64) @ touches.astype(np.int64)) > 0
        for child, parent in enumerate(model.parents):
            if parent >= 0:
                adjacent[child, parent] = adjacent[parent, child] = True
        np.fill_diagonal(adjacent, True)
        near = (touches.astype(np.int64) @ adjacent.astype(np.int64)) > 0
        neighbors = geodesic_neighbors(model.v_template.detach().cpu(), model.faces.detach().cpu(), geodesic_radius)
        return cls(ClosedParts(faces, labels), torch.from_numpy(~near), neighbors, torch.from_numpy(faces))

    def to(self, device: torch.device | str) -> HandCollider:
        return HandCollider(
            self.parts.to(device), self.allowed.to(device), self.neighbors.to(device), self.faces_closed.to(device)
        )

    @property
    def num_vertices(self) -> int:
        return int(self.neighbors.shape[0])


_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def collider_for(model, device: torch.device | str | None = None) -> HandCollider:
    """The `HandCollider` of a `HandModel` on `device`, built at first use and cached with the model."""
    if isinstance(model, HandCollider):
        same = device is None or model.neighbors.device == torch.device(device)
        return model if same else model.to(device)
    per_model = _CACHE.setdefault(model, {})
    key = str(torch.device(device)) if device is not None else str(model.faces_closed.device)
    if "cpu" not in per_model:
        per_model["cpu"] = HandCollider.from_hand_model(model)
    if key not in per_model:
        per_model[key] = per_model["cpu"].to(key)
    return per_model[key]


def _check_vertices(vertices: torch.Tensor, collider: HandCollider, name: str = "vertices") -> None:
    if vertices.dim() != 3 or vertices.shape[1:] != (collider.num_vertices, 3):
        raise ValueError(
            f"{name} must be (B, {collider.num_vertices}, 3) for this hand model, got {tuple(vertices.shape)}"
        )


# ---------------------------------------------------------------------------------------------------
# Single hand (eq. 4)


class SelfPenetration(NamedTuple):
    """Per-vertex result of the single-hand test."""

    inside: torch.Tensor  # (B, V) bool: enclosed by a part of the hand it does not touch (see the module notes)
    distance: torch.Tensor  # (B, V) d(v) for inside vertices (differentiable), 0 elsewhere
    nearest: torch.Tensor  # (B, V) long: index of the nearest non-neighbour vertex u, -1 where not inside


def _rows_by_batch(b: torch.Tensor, batch: int) -> list[tuple[int, torch.Tensor]]:
    """(batch element, indices into b) for each batch element present in b (one hand: no search)."""
    if batch == 1:
        return [(0, torch.arange(b.numel(), device=b.device))] if b.numel() else []
    return [(bb, torch.nonzero(b == bb)[:, 0]) for bb in torch.unique(b).tolist()]


@torch.no_grad()
def _nearest_non_neighbors(x: torch.Tensor, b: torch.Tensor, v: torch.Tensor, neighbors: torch.Tensor) -> torch.Tensor:
    """Index (M,) of the nearest vertex of x[b] (B, V, 3) to x[b, v] that is not a geodesic neighbour of v."""
    u = torch.empty_like(v)
    for bb, rows in _rows_by_batch(b, x.shape[0]):
        xb = x[bb] - x[bb].mean(0)  # centred: the matrix-product distances below then err by ~1e-8 m at most
        for i in range(0, rows.numel(), _ROWS_PER_CHUNK):
            r = rows[i : i + _ROWS_PER_CHUNK]
            d = torch.cdist(xb[v[r]], xb, compute_mode="use_mm_for_euclid_dist")
            u[r] = d.masked_fill(neighbors[v[r]], torch.inf).argmin(1)
    return u


def self_penetration(vertices: torch.Tensor, model) -> SelfPenetration:
    """Inside test and d(v) of eq. 4 for hands vertices (B, V, 3) of `model` (a HandModel or HandCollider)."""
    col = collider_for(model, vertices.device)
    _check_vertices(vertices, col)
    x = vertices.detach()
    # enclosed by a part it does not touch, and by the whole closed mesh (so that no vertex outside it is
    # ever counted): both stages evaluated in one batch
    inside = col.parts.pose(x).enclosed_vertices(col.allowed)
    b, v = torch.nonzero(inside, as_tuple=True)
    u = _nearest_non_neighbors(x, b, v, col.neighbors)
    d = torch.linalg.vector_norm(vertices[b, v] - vertices[b, u], dim=-1)
    distance = vertices.new_zeros(inside.shape).index_put((b, v), d)
    nearest = torch.full(inside.shape, -1, dtype=torch.long, device=vertices.device).index_put((b, v), u)
    return SelfPenetration(inside, distance, nearest)


def penetration_excess(inner: torch.Tensor, nearest: torch.Tensor, d_tol: float = D_TOL) -> torch.Tensor:
    """Eq. 4's summand max(d(v) - d_tol, 0), d(v) = |v - u|, for inside vertices v (..., 3) and their nearest
    non-neighbour vertices u (..., 3) (as `self_penetration` finds them); a least-squares fit squares it."""
    return (torch.linalg.vector_norm(inner - nearest, dim=-1) - d_tol).clamp_min(0)


def non_penetration_loss(
    vertices: torch.Tensor, model, d_tol: float = D_TOL, reduction: Reduction = "mean"
) -> torch.Tensor:
    """Eq. 4: sum over inside vertices of max(d(v) - d_tol, 0) per hand (metres), then `reduction`."""
    pen = self_penetration(vertices, model)
    b, v = torch.nonzero(pen.inside, as_tuple=True)
    excess = penetration_excess(vertices[b, v], vertices[b, pen.nearest[b, v]], d_tol)
    per_hand = vertices.new_zeros(vertices.shape[0]).index_add(0, b, excess)
    return reduce_batch(per_hand, reduction)


@torch.no_grad()
def self_penetration_depth(vertices: torch.Tensor, model) -> torch.Tensor:
    """Penetration depth (B,) in metres: the largest d(v) over inside vertices, 0 when none (the input of
    `handrecon.eval.penetration_rate`)."""
    return self_penetration(vertices, model).distance.amax(1).clamp(min=0)


# ---------------------------------------------------------------------------------------------------
# Two hands


class TwoHandPenetration(NamedTuple):
    """Vertices of each hand inside the other, and their distance to the other hand's surface."""

    inside_a: torch.Tensor  # (B, Va) bool: vertex of hand a inside hand b
    inside_b: torch.Tensor  # (B, Vb) bool
    distance_a: torch.Tensor  # (B, Va) distance to hand b's surface where inside (differentiable), 0 elsewhere
    distance_b: torch.Tensor  # (B, Vb)


@torch.no_grad()
def _nearest_triangles(p: torch.Tensor, b: torch.Tensor, x: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """Index (M,) of the triangle of mesh x[b] (B, V, 3), faces (F, 3), nearest to each point p (M, 3).

    Exact with pruning: the nearest vertex bounds the distance from above, and a triangle can be no closer
    than (farthest of its corners) - (its longest edge), so only triangles passing that bound are measured.
    """
    choice = torch.zeros_like(b)
    corners = faces.T.reshape(-1)
    for bb in torch.unique(b).tolist():
        tri = x[bb, faces]  # (F, 3, 3)
        diam = (tri - tri.roll(1, 1)).norm(dim=-1).amax(-1)
        rows_all = torch.nonzero(b == bb)[:, 0]
        for i in range(0, rows_all.numel(), _ROWS_PER_CHUNK):
            rows = rows_all[i : i + _ROWS_PER_CHUNK]
            dv = torch.cdist(x[bb], p[rows], compute_mode="donot_use_mm_for_euclid_dist")  # (V, c)
            lower = torch.index_select(dv, 0, corners).view(3, -1, rows.numel()).amax(0) - diam[:, None]  # (F, c)
            upper = dv.amin(0) * (1 + 1e-5) + 1e-6 * diam.max()  # margins for rounding
            f, r = torch.nonzero(lower <= upper, as_tuple=True)
            dist = (closest_points_on_triangles(p[rows[r]], tri[f, 0], tri[f, 1], tri[f, 2]) - p[rows[r]]).norm(dim=-1)
            best = torch.full((rows.numel(),), torch.inf, dtype=dist.dtype, device=p.device)
            best = best.scatter_reduce(0, r, dist, "amin")
            hit = dist == best[r]
            choice[rows[r[hit]]] = f[hit]
    return choice


def _inside_other(points: torch.Tensor, other: torch.Tensor, col: HandCollider) -> tuple[torch.Tensor, torch.Tensor]:
    """Vertices of one hand inside the other hand's closed mesh and their (differentiable) depth."""
    inside = col.parts.winding_numbers(points, other) > 0.5
    b, n = torch.nonzero(inside, as_tuple=True)
    p = points[b, n]
    f = _nearest_triangles(p.detach(), b, other.detach(), col.faces_closed)
    corners = other[b[:, None], col.faces_closed[f]]  # (M, 3, 3)
    d = torch.linalg.vector_norm(
        closest_points_on_triangles(p, corners[:, 0], corners[:, 1], corners[:, 2]) - p, dim=-1
    )
    return inside, points.new_zeros(inside.shape).index_put((b, n), d)


def two_hand_penetration(vertices_a: torch.Tensor, vertices_b: torch.Tensor, model_a, model_b) -> TwoHandPenetration:
    """Each hand's vertices (B, Va, 3), (B, Vb, 3) tested against the other's closed mesh (winding > 1/2)."""
    col_a, col_b = collider_for(model_a, vertices_a.device), collider_for(model_b, vertices_b.device)
    _check_vertices(vertices_a, col_a, "vertices_a")
    _check_vertices(vertices_b, col_b, "vertices_b")
    if vertices_a.shape[0] != vertices_b.shape[0]:
        raise ValueError(f"batch sizes differ: {vertices_a.shape[0]} and {vertices_b.shape[0]}")
    inside_a, dist_a = _inside_other(vertices_a, vertices_b, col_b)
    inside_b, dist_b = _inside_other(vertices_b, vertices_a, col_a)
    return TwoHandPenetration(inside_a, inside_b, dist_a, dist_b)


def two_hand_penetration_loss(
    vertices_a: torch.Tensor, vertices_b: torch.Tensor, model_a, model_b, reduction: Reduction = "mean"
) -> torch.Tensor:
    """Sum over the vertices of each hand inside the other of their distance to its surface (metres)."""
    pen = two_hand_penetration(vertices_a, vertices_b, model_a, model_b)
    return reduce_batch(pen.distance_a.sum(1) + pen.distance_b.sum(1), reduction)


@torch.no_grad()
def two_hand_penetration_depth(vertices_a: torch.Tensor, vertices_b: torch.Tensor, model_a, model_b) -> torch.Tensor:
    """Depth (B,) in metres: the largest distance of a vertex of either hand inside the other, 0 when none."""
    pen = two_hand_penetration(vertices_a, vertices_b, model_a, model_b)
    return torch.maximum(pen.distance_a.amax(1), pen.distance_b.amax(1)).clamp(min=0)
