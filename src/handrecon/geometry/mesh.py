"""Triangle-mesh geometry shared by the hand model, renderer, priors and texture code: normals, test meshes,
hole capping, closest points. Connectivity (edges, loops, rings) lives in `geometry/topology.py`."""

from __future__ import annotations

import math

import numpy as np
import torch

from handrecon.geometry.topology import boundary_loops


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


def flip_faces(faces: torch.Tensor) -> torch.Tensor:
    """Reverse the winding of every face (used when mirroring a mesh)."""
    return faces[:, [0, 2, 1]]


def plane_grid(
    nx: int, ny: int, width: float = 1.0, height: float = 1.0, dtype: torch.dtype = torch.float32
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Regular grid in the z = 0 plane centred at the origin, for tests, benchmarks and synthetic scenes.

    Returns vertices ((nx + 1) (ny + 1), 3), faces (2 nx ny, 3) whose normals point to -z (towards a camera
    looking along +z), and per-vertex UVs with v up: the row of smallest y (the top in the OpenCV camera
    frame) has v = 1.
    """
    if nx < 1 or ny < 1:
        raise ValueError(f"grid needs at least one cell per side, got {nx}x{ny}")
    gx, gy = torch.meshgrid(
        torch.linspace(0, 1, nx + 1, dtype=dtype), torch.linspace(0, 1, ny + 1, dtype=dtype), indexing="xy"
    )
    vertices = torch.stack([(gx - 0.5) * width, (gy - 0.5) * height, torch.zeros_like(gx)], -1).reshape(-1, 3)
    uv = torch.stack([gx, 1 - gy], -1).reshape(-1, 2)
    idx = torch.arange((nx + 1) * (ny + 1)).view(ny + 1, nx + 1)
    a, b, c, d = idx[:-1, :-1], idx[:-1, 1:], idx[1:, :-1], idx[1:, 1:]
    faces = torch.cat([torch.stack([a, c, b], -1).reshape(-1, 3), torch.stack([b, c, d], -1).reshape(-1, 3)])
    return vertices, faces, uv


def uv_sphere(
    n_lat: int, n_lon: int, dtype: torch.dtype = torch.float32
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Closed unit sphere with outward (counter-clockwise) faces and a longitude/latitude UV layout.

    Returns vertices (2 + (n_lat - 1) n_lon, 3) with the poles on the y axis (north = -y, up in the OpenCV
    camera frame), faces (2 n_lon (n_lat - 1), 3), UVs (T, 2) with v up (north pole at v = 1) and faces_uv
    (F, 3): the UV layout has a seam at u = 0 = 1 and one UV per pole triangle, so it indexes its own table.
    """
    if n_lat < 2 or n_lon < 3:
        raise ValueError(f"need n_lat >= 2 and n_lon >= 3, got {n_lat}, {n_lon}")
    theta = torch.arange(1, n_lat, dtype=torch.float64) * math.pi / n_lat
    phi = torch.arange(n_lon, dtype=torch.float64) * 2 * math.pi / n_lon
    t, p = torch.meshgrid(theta, phi, indexing="ij")
    ring = torch.stack([t.sin() * p.cos(), -t.cos(), t.sin() * p.sin()], -1).reshape(-1, 3)
    vertices = torch.cat([ring.new_tensor([[0.0, -1.0, 0.0]]), ring, ring.new_tensor([[0.0, 1.0, 0.0]])]).to(dtype)
    south = vertices.shape[0] - 1

    # UV table: (n_lat - 1) rings of n_lon + 1 columns (seam duplicated), then n_lon north and n_lon south tips.
    i, j = torch.meshgrid(torch.arange(1, n_lat).double(), torch.arange(n_lon + 1).double(), indexing="ij")
    uv_ring = torch.stack([j / n_lon, 1 - i / n_lat], -1).reshape(-1, 2)
    tips = (torch.arange(n_lon).double() + 0.5) / n_lon
    uv = torch.cat([uv_ring, torch.stack([tips, torch.ones_like(tips)], -1), torch.stack([tips, 0 * tips], -1)])
    n_ring_uv = uv_ring.shape[0]

    def vid(r: torch.Tensor, c: torch.Tensor) -> torch.Tensor:  # ring r in [0, n_lat - 1), column c (mod n_lon)
        return 1 + r * n_lon + c % n_lon

    def tid(r: torch.Tensor, c: torch.Tensor) -> torch.Tensor:  # UV of ring r, column c in [0, n_lon]
        return r * (n_lon + 1) + c

    c = torch.arange(n_lon)
    faces = [torch.stack([torch.zeros_like(c), vid(0, c), vid(0, c + 1)], -1)]
    faces_uv = [torch.stack([n_ring_uv + c, tid(0, c), tid(0, c + 1)], -1)]
    r, cc = torch.meshgrid(torch.arange(n_lat - 2), c, indexing="ij")
    r, cc = r.reshape(-1), cc.reshape(-1)
    faces += [
        torch.stack([vid(r, cc), vid(r + 1, cc + 1), vid(r, cc + 1)], -1),
        torch.stack([vid(r, cc), vid(r + 1, cc), vid(r + 1, cc + 1)], -1),
    ]
    faces_uv += [
        torch.stack([tid(r, cc), tid(r + 1, cc + 1), tid(r, cc + 1)], -1),
        torch.stack([tid(r, cc), tid(r + 1, cc), tid(r + 1, cc + 1)], -1),
    ]
    last = n_lat - 2
    faces.append(torch.stack([vid(last, c), torch.full_like(c, south), vid(last, c + 1)], -1))
    faces_uv.append(torch.stack([tid(last, c), n_ring_uv + n_lon + c, tid(last, c + 1)], -1))
    return vertices, torch.cat(faces), uv.to(dtype), torch.cat(faces_uv)


def _ear_clip_polygon(uv: np.ndarray) -> list[tuple[int, int, int]]:
    """Ear clipping of a simple counter-clockwise 2D polygon; prefers well-shaped ears."""

    def side(p1, p2, p3):
        return (p1[0] - p3[0]) * (p2[1] - p3[1]) - (p2[0] - p3[0]) * (p1[1] - p3[1])

    def inside(pt, a, b, c):
        d1, d2, d3 = side(pt, a, b), side(pt, b, c), side(pt, c, a)
        return not ((d1 < 0 or d2 < 0 or d3 < 0) and (d1 > 0 or d2 > 0 or d3 > 0))

    order, tris = list(range(len(uv))), []
    while len(order) > 3:
        best, best_q = None, -1.0
        for i in range(len(order)):
            a, b, c = order[i - 1], order[i], order[(i + 1) % len(order)]
            pa, pb, pc = uv[a], uv[b], uv[c]
            cross = (pb[0] - pa[0]) * (pc[1] - pa[1]) - (pb[1] - pa[1]) * (pc[0] - pa[0])
            if cross <= 0 or any(inside(uv[o], pa, pb, pc) for o in order if o not in (a, b, c)):
                continue
            longest = max(np.linalg.norm(pb - pa), np.linalg.norm(pc - pb), np.linalg.norm(pa - pc))
            if cross / longest**2 > best_q:
                best, best_q = i, cross / longest**2
        if best is None:
            raise ValueError("hole is not a simple polygon in its best-fit plane; cannot cap it")
        tris.append((order[best - 1], order[best], order[(best + 1) % len(order)]))
        order.pop(best)
    tris.append((order[0], order[1], order[2]))
    return tris


def cap_holes(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Triangles (C, 3) closing every boundary loop without adding vertices.

    Each loop is projected onto its best-fit plane and ear-clipped; cap triangles are wound against the
    loop's half-edges so that `faces + caps` is closed and consistently oriented.
    """
    caps = []
    for loop in boundary_loops(faces):
        p = vertices[loop] - vertices[loop].mean(0)
        _, _, vt = np.linalg.svd(p)
        uv = p @ vt[:2].T
        area = 0.5 * np.sum(uv[:, 0] * np.roll(uv[:, 1], -1) - np.roll(uv[:, 0], -1) * uv[:, 1])
        idx = np.arange(len(loop)) if area > 0 else np.arange(len(loop))[::-1]
        tris = np.asarray([[loop[idx[i]] for i in t] for t in _ear_clip_polygon(uv[idx])])
        # The loop runs loop[i] -> loop[i+1] in the existing faces; caps must use the opposite direction.
        nxt = {int(loop[i]): int(loop[(i + 1) % len(loop)]) for i in range(len(loop))}
        t0 = tris[0]
        if any(nxt.get(int(t0[e])) == int(t0[(e + 1) % 3]) for e in range(3)):
            tris = tris[:, [0, 2, 1]]
        caps.append(tris)
    return np.concatenate(caps, 0).astype(np.int64) if caps else np.zeros((0, 3), np.int64)


def closest_points_on_triangles(p: torch.Tensor, a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """Closest points (..., 3) on triangles (a, b, c) to points p, all (..., 3) and broadcastable.

    The Voronoi-region test of Ericson ("Real-Time Collision Detection", 5.1.5), branch-free so that it is
    batched and differentiable: gradients flow to the point and to the triangle's corners.
    """
    ab, ac, ap, bp, cp = b - a, c - a, p - a, p - b, p - c
    d1, d2 = (ab * ap).sum(-1), (ac * ap).sum(-1)
    d3, d4 = (ab * bp).sum(-1), (ac * bp).sum(-1)
    d5, d6 = (ab * cp).sum(-1), (ac * cp).sum(-1)
    va, vb, vc = d3 * d6 - d5 * d4, d5 * d2 - d1 * d6, d1 * d4 - d3 * d2

    def ratio(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:  # safe in the branches not taken
        return num / torch.where(den == 0, torch.ones_like(den), den)

    # Barycentric weights (of b and c) for the interior, then overridden region by region (Ericson's order
    # reversed, so that the first matching region of the original wins).
    s = va + vb + vc
    v, w = ratio(vb, s), ratio(vc, s)
    zero, one = torch.zeros_like(v), torch.ones_like(v)
    t_bc = ratio(d4 - d3, (d4 - d3) + (d5 - d6))
    regions = [
        ((va <= 0) & (d4 - d3 >= 0) & (d5 - d6 >= 0), 1 - t_bc, t_bc),  # edge bc
        ((vb <= 0) & (d2 >= 0) & (d6 <= 0), zero, ratio(d2, d2 - d6)),  # edge ac
        ((d6 >= 0) & (d5 <= d6), zero, one),  # vertex c
        ((vc <= 0) & (d1 >= 0) & (d3 <= 0), ratio(d1, d1 - d3), zero),  # edge ab
        ((d3 >= 0) & (d4 <= d3), one, zero),  # vertex b
        ((d1 <= 0) & (d2 <= 0), zero, zero),  # vertex a
    ]
    for mask, rv, rw in regions:
        v, w = torch.where(mask, rv, v), torch.where(mask, rw, w)
    return a + ab * v[..., None] + ac * w[..., None]
