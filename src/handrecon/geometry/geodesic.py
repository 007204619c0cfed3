"""Geodesic distances on a triangle mesh, approximated by shortest paths along its edges.

The non-penetration prior needs to know which vertices are "neighbours" on the surface (closer than about
one phalanx, 2 cm, when walking on the skin): a vertex is always at distance zero from its own surface, so
only non-neighbours can measure how deep it has gone into another part of the hand. Edge paths (Dijkstra)
overestimate true geodesics slightly on irregular meshes, which only makes the neighbourhoods a little
smaller; they are computed once per hand model on its rest template.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import dijkstra

from handrecon.geometry.topology import edges


def _as_numpy(x: np.ndarray | torch.Tensor) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def geodesic_distances(
    vertices: np.ndarray | torch.Tensor,
    faces: np.ndarray | torch.Tensor,
    max_distance: float | None = None,
    sources: np.ndarray | None = None,
) -> np.ndarray:
    """Shortest edge-path lengths (S, V) from `sources` (default: every vertex) to every vertex.

    vertices (V, 3), faces (F, 3). With `max_distance`, the search stops there and farther vertices get
    `inf` (much faster for small radii).
    """
    v = _as_numpy(vertices).astype(np.float64)
    e = edges(faces)
    w = np.linalg.norm(v[e[:, 0]] - v[e[:, 1]], axis=1)
    n = v.shape[0]
    graph = coo_matrix((w, (e[:, 0], e[:, 1])), shape=(n, n)).tocsr()
    limit = np.inf if max_distance is None else float(max_distance)
    return dijkstra(graph, directed=False, indices=sources, limit=limit)


def geodesic_neighbors(
    vertices: np.ndarray | torch.Tensor, faces: np.ndarray | torch.Tensor, radius: float
) -> torch.Tensor:
    """(V, V) bool: True where the edge-path distance between two vertices is at most `radius`.

    The diagonal is True. 1609 vertices take 2.6 MB, small enough to keep on the device with the model.
    """
    if radius <= 0:
        raise ValueError(f"geodesic radius must be positive, got {radius}")
    d = geodesic_distances(vertices, faces, max_distance=radius)
    return torch.from_numpy(d <= radius)
