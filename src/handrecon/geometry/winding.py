"""Generalized winding numbers (Jacobson, Kavan and Sorkine-Hornung, SIGGRAPH 2013).

The winding number of a point q with respect to a closed, outward-oriented triangle mesh is the sum of the
signed solid angles of its triangles seen from q, divided by 4 pi: 1 inside, 0 outside, 1/2 on the surface
(the local solid-angle fraction at edges and corners). Each solid angle uses the formula of Van Oosterom
and Strackee (IEEE TBME 1983). Winding numbers stay well defined when the mesh intersects itself, which a
posed hand mesh does exactly when it penetrates itself.

This module is the kernel (every triangle against every point); `geometry/closed_parts.py` culls it by
parts for per-vertex tests on a posed hand.

Precision: sums run in float32, and every point lying so close to some triangle's plane that rounding
could put it on the wrong side is evaluated again in float64. The side of the surface a point is on (the
integer part) is therefore as reliable as float64 arithmetic, while fractional values carry float32
rounding (about 1e-6 per triangle). Winding numbers are piecewise constant: nothing here carries a gradient.
"""

from __future__ import annotations

import math

import torch

# Candidate pairs (query point x triangle) evaluated at once; bounds the temporaries to a few tens of MB.
PAIRS_PER_CHUNK = 1 << 19


def solid_angles(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """Signed solid angles (...,) in (-2 pi, 2 pi) of triangles with corners at a, b, c (..., 3), seen from
    the origin; positive when the triangle winds counter-clockwise seen from the origin's far side (so an
    outward-oriented closed mesh sums to 4 pi from inside). A corner at the origin gives 0."""
    la, lb, lc = a.norm(dim=-1), b.norm(dim=-1), c.norm(dim=-1)
    det = (a * torch.cross(b, c, dim=-1)).sum(-1)
    den = la * lb * lc + (a * b).sum(-1) * lc + (a * c).sum(-1) * lb + (b * c).sum(-1) * la
    ang = 2.0 * torch.atan2(det, den)
    return ang.masked_fill((la == 0) | (lb == 0) | (lc == 0), 0.0)


def triangle_terms(p: torch.Tensor, corners: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The query-independent part of `winding_terms` for triangles over points p (G, m, 3), given by their
    corner indices (G, 3T) (all first corners, then all second, then all third): terms (G, 8, T) = n (3),
    A.n, |A - B|^2, |A - C|^2, |B - C|^2, |n| with n = (B - A) x (C - A), and the radius (G,) of each group's
    points. Coordinates along dim 1, so that the sums over them are plain additions of contiguous rows."""
    G, T = p.shape[0], corners.shape[1] // 3
    A, B, C = torch.gather(p.transpose(1, 2), 2, corners[:, None].expand(G, 3, 3 * T)).view(G, 3, 3, T).unbind(2)
    normal = torch.cross(B - A, C - A, dim=1)
    squares = [(d * d).sum(1) for d in (A - B, A - C, B - C, normal)]
    terms = torch.cat([normal, torch.stack([(A * normal).sum(1), *squares[:3], squares[3].sqrt()], 1)], 1)
    return terms, p.norm(dim=-1).amax(1)


def winding_terms(
    q: torch.Tensor, p: torch.Tensor, corners: torch.Tensor, terms: torch.Tensor, radius: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """`grouped_winding` with the triangles given by their corners (G, 3T) and the terms and radius of
    `triangle_terms`. (Written for few tensor operations: on small inputs their overhead dominates.)"""
    G, n, T = q.shape[0], q.shape[1], corners.shape[1] // 3
    eps = torch.finfo(p.dtype).eps
    normal, plane, e_ab, e_ac, e_bc, normal_norm = terms.split([3, 1, 1, 1, 1, 1], 1)
    # Layout (G, n, T): the per-triangle terms broadcast over the rows and every sum runs along contiguous
    # memory (element-wise kernels are several times slower with a short innermost dimension).
    det = torch.baddbmm(plane, q, normal, alpha=-1)  # A.n - q.n
    dist = torch.cdist(q, p, compute_mode="donot_use_mm_for_euclid_dist")  # (G, n, m), exact differences
    lengths = torch.gather(dist, 2, corners[:, None].expand(G, n, 3 * T)).view(G, n, 3, T)
    la, lb, lc = lengths.unbind(2)
    la2, lb2, lc2 = (lengths * lengths).unbind(2)
    den = torch.add(la2, lb2).sub_(e_ab).mul_(lc)  # (|a|^2 + |b|^2 - |A - B|^2) |c| = 2 a.b |c|, etc.
    den.addcmul_(torch.add(la2, lc2).sub_(e_ac), lb).addcmul_(torch.add(lb2, lc2).sub_(e_bc), la)
    product = (la * lb).mul_(lc)  # 0 exactly where the point is a corner of the triangle
    den.mul_(0.5).add_(product)
    ang = torch.atan2(det, den)
    radius = torch.maximum(radius, q.norm(dim=-1).amax(1))
    # slack < 0: the point lies so close to the triangle's plane that rounding could flip the sign of det
    slack = det.abs_().sub_(normal_norm * (64 * eps * radius)[:, None, None])  # (det is not needed any more)
    if dist.amin() == 0:  # a point on a mesh vertex: the triangles around it count 0 (rare, masked only then)
        at_corner = product == 0
        ang.masked_fill_(at_corner, 0.0)
        slack.masked_fill_(at_corner, math.inf)
    flag = torch.zeros(G, n, dtype=torch.bool, device=q.device)
    if slack.amin() < 0:
        # Near a plane, the sign of det matters only where the angle is close to +-pi, i.e. den is not
        # clearly positive (its rounding error is below 64 eps l^3, l the longest corner distance).
        g, i, t = torch.nonzero(slack < 0, as_tuple=True)
        risky = den[g, i, t] < 64 * eps * lengths[g, i, :, t].amax(-1) ** 3
        flag[g[risky], i[risky]] = True
    return ang.sum(2).mul_(0.5 / math.pi), flag


def grouped_winding(q: torch.Tensor, p: torch.Tensor, tri: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Winding numbers (G, n) of points q (G, n, 3) w.r.t. the triangles tri (G, T, 3) over the points
    p (G, m, 3) of each group, in the inputs' dtype, and a (G, n) flag of the points whose sign is uncertain.

    `solid_angles` rewritten for throughput: the corner distances come from one (n, m) table per group and
    the triple products from one matrix product; with a = A - q etc. and n = (B - A) x (C - A),
    a.b = (|a|^2 + |b|^2 - |A - B|^2) / 2 and det[a, b, c] = A.n - q.n. Coordinates must be centred on the
    group: det then has a rounding error below ~64 eps R |n| (R: the group's radius), and a point is flagged
    when it lies that close to the plane of a triangle it sees at an angle near +-pi (den not clearly > 0).
    """
    corners = tri.transpose(1, 2).reshape(tri.shape[0], -1)
    return winding_terms(q, p, corners, *triangle_terms(p, corners))


def _exactgrouped_winding(q: torch.Tensor, p: torch.Tensor, tri: torch.Tensor) -> torch.Tensor:
    """`grouped_winding` of float64 inputs with float64 results: float32 sums, float64 for flagged points."""
    centre = p.mean(1, keepdim=True)
    q, p = q - centre, p - centre
    w, flag = grouped_winding(q.float(), p.float(), tri)
    w = w.to(torch.float64)
    if flag.any():
        for g in torch.nonzero(flag.any(1))[:, 0].tolist():
            rows = torch.nonzero(flag[g])[:, 0]
            w[g, rows] = grouped_winding(q[g : g + 1, rows], p[g : g + 1], tri[g : g + 1])[0][0]
    return w


def check_batched(points: torch.Tensor, vertices: torch.Tensor) -> None:
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
    check_batched(points, vertices)
    B, N = points.shape[:2]
    tri = faces.to(device=points.device, dtype=torch.long).expand(B, -1, -1)
    p, q = vertices.detach().to(torch.float64), points.detach().to(torch.float64)
    chunk = max(1, PAIRS_PER_CHUNK // max(1, B * tri.shape[1]))
    out = [_exactgrouped_winding(q[:, i : i + chunk], p, tri) for i in range(0, N, chunk)]
    return torch.cat(out, 1) if out else q.new_zeros(B, 0)


def inside(points: torch.Tensor, vertices: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """(B, N) bool: winding number > 1/2, i.e. inside the closed mesh (points on it are ambiguous)."""
    return winding_numbers(points, vertices, faces) > 0.5
