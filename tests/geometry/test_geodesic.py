"""Geodesic distances along mesh edges and the neighbourhood mask of the non-penetration prior."""

import numpy as np
import pytest
import torch

from handrecon.geometry.geodesic import geodesic_distances, geodesic_neighbors
from handrecon.geometry.mesh import plane_grid


def _grid(n: int = 6, size: float = 0.05):
    v, f, _ = plane_grid(n, n, size, size, dtype=torch.float64)
    return v, f, size / n  # vertex (i, j) has index j * (n + 1) + i


def test_straight_rows_are_exact_and_paths_never_beat_the_straight_line():
    v, f, h = _grid()
    d = geodesic_distances(v, f)
    assert d.shape == (49, 49)
    assert np.allclose(np.diag(d), 0) and np.allclose(d, d.T)
    assert d[0, 6] == pytest.approx(6 * h)  # along the first row: straight edges
    assert d[0, 6 * 7] == pytest.approx(6 * h)  # along the first column
    euclid = torch.cdist(v, v).numpy()
    assert (d >= euclid - 1e-12).all()
    assert d[0, 48] == pytest.approx(12 * h)  # the diagonals run the other way: Manhattan distance


def test_limit_and_neighbour_mask():
    v, f, h = _grid()
    d = geodesic_distances(v, f, max_distance=2.5 * h)
    assert np.isinf(d[0, 3]) and d[0, 2] == pytest.approx(2 * h)
    nb = geodesic_neighbors(v, f, radius=2.5 * h)
    assert nb.dtype == torch.bool and nb.shape == (49, 49)
    assert nb[0, 2] and not nb[0, 3] and nb.diagonal().all()
    assert torch.equal(nb, nb.T)
    with pytest.raises(ValueError):
        geodesic_neighbors(v, f, radius=0.0)
