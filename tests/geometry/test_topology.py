"""Mesh connectivity: boundary loops (also through a vertex the boundary visits twice), face adjacency,
ordered one-rings, watertightness."""

import numpy as np

from handrecon.geometry.mesh import uv_sphere
from handrecon.geometry.topology import (
    boundary_loops,
    face_adjacency,
    is_watertight,
    ordered_one_rings,
    part_boundary_loops,
)

# Two triangles of a square (0, 1, 2, 3), counter-clockwise.
SQUARE = np.array([[0, 1, 2], [0, 2, 3]])
# Two triangles that touch only at vertex 0 (a bow tie): the boundary passes through 0 twice.
BOW_TIE = np.array([[0, 1, 2], [0, 3, 4]])


def _cyclic(loop) -> tuple[int, ...]:
    i = int(np.argmin(loop))
    return tuple(np.roll(loop, -i).tolist())


def test_square_has_one_loop_following_the_faces():
    (loop,) = boundary_loops(SQUARE)
    assert _cyclic(loop) == (0, 1, 2, 3)
    assert not is_watertight(SQUARE)


def test_bow_tie_gives_two_simple_loops():
    loops = sorted(_cyclic(lp) for lp in boundary_loops(BOW_TIE))
    assert loops == [(0, 1, 2), (0, 3, 4)]


def test_face_adjacency_pairs_faces_sharing_an_edge():
    assert sorted(face_adjacency(SQUARE)[0].tolist()) == [0, 1] and len(face_adjacency(SQUARE)) == 1
    assert len(face_adjacency(BOW_TIE)) == 0


def test_closed_sphere_rings_and_part_loops():
    _, faces, _, _ = uv_sphere(6, 8)
    f = faces.numpy()
    assert is_watertight(f) and boundary_loops(f) == []
    rings = ordered_one_rings(f, int(f.max()) + 1)
    # every consecutive pair (a, b) of a vertex's ring is a face (v, a, b) up to rotation
    faces_set = {_cyclic(t) for t in f.tolist()}
    for v, ring in enumerate(rings):
        r = ring[ring >= 0].tolist()
        assert all(_cyclic([v, a, b]) in faces_set for a, b in zip(r, r[1:] + r[:1], strict=True))
    # the faces around the first pole form a cap whose rim is one loop, oriented like the faces
    cap = (f == 0).any(1)
    (rim,) = part_boundary_loops(f, cap)
    assert len(rim) == int(cap.sum())
