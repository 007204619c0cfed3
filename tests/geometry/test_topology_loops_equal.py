"""The NumPy topology functions give exactly what the former pure-Python loops gave (copied below as the
reference), on the bundled hand mesh (open and closed, both sides, the penetration prior's parts) and on
small synthetic meshes; plus known values of the new code paths."""

from collections import defaultdict

import numpy as np
import pytest

from handrecon.geometry.mesh import uv_sphere
from handrecon.geometry.topology import (
    boundary_loops,
    edges,
    is_watertight,
    ordered_one_rings,
    part_boundary_loops,
    vertex_neighbors,
)


# ---- the former implementations (reference) ----
def _old_edges(faces):
    f = np.asarray(faces)
    return np.unique(np.sort(np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]], 0), axis=1), axis=0)


def _old_is_watertight(faces):
    directed = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]], 0)
    fwd = {tuple(e) for e in directed.tolist()}
    if len(fwd) != len(directed):
        return False
    return all((b, a) in fwd for a, b in fwd)


def _old_vertex_neighbors(faces, num_vertices):
    nb = defaultdict(set)
    for a, b in _old_edges(faces).tolist():
        nb[a].add(b)
        nb[b].add(a)
    return [np.asarray(sorted(nb[i]), dtype=np.int64) for i in range(num_vertices)]


def _old_ordered_one_rings(faces, num_vertices):
    nxt = [{} for _ in range(num_vertices)]
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


def _old_walk_boundary(faces, chosen, starts):
    owner = {}
    for fi, (a, b, c) in enumerate(faces.tolist()):
        owner[(a, b)], owner[(b, c)], owner[(c, a)] = fi, fi, fi

    def after(fi, v):
        f = faces[fi].tolist()
        return f[(f.index(v) + 1) % 3]

    nxt = {}
    for fi, e in starts:
        u, v = int(faces[fi, e]), int(faces[fi, (e + 1) % 3])
        if owner.get((v, u)) in chosen:
            continue
        w = after(fi, v)
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


def _old_boundary_loops(faces):
    f = np.asarray(faces, dtype=np.int64)
    return _old_walk_boundary(f, set(range(len(f))), [(fi, e) for e in range(3) for fi in range(len(f))])


def _old_part_boundary_loops(faces, in_part):
    part_faces = set(np.flatnonzero(in_part).tolist())
    return _old_walk_boundary(faces, part_faces, [(fi, e) for fi in part_faces for e in range(3)])


# ---- comparison ----
def _same_loops(got, want):
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g.dtype == np.int64
        np.testing.assert_array_equal(g, w)


def _check_everything(faces, parts=None):
    faces = np.asarray(faces, dtype=np.int64)
    V = int(faces.max()) + 1
    assert is_watertight(faces) == _old_is_watertight(faces)
    for dtype in (np.int64, np.int32):
        got, want = edges(faces.astype(dtype)), _old_edges(faces.astype(dtype))
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got, want)
    for got, want in zip(vertex_neighbors(faces, V), _old_vertex_neighbors(faces, V), strict=True):
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)
    _same_loops(boundary_loops(faces), _old_boundary_loops(faces))
    if _old_is_watertight(faces):
        rings = ordered_one_rings(faces, V)
        assert rings.dtype == np.int64
        np.testing.assert_array_equal(rings, _old_ordered_one_rings(faces, V))
    for in_part in parts or []:
        _same_loops(part_boundary_loops(faces, in_part), _old_part_boundary_loops(faces, in_part))


@pytest.mark.parametrize("side", ["right", "left"])
def test_the_hand_mesh_gives_the_former_results(side):
    from handrecon.hand import HandModel
    from handrecon.priors.penetration import hand_part_labels

    model = HandModel(side=side)
    closed = model.faces_closed.numpy()
    labels = hand_part_labels(closed, model.lbs_weights.double().numpy())
    parts = [labels == k for k in range(int(labels.max()) + 1)]
    parts.append(labels % 3 == 0)  # parts made of several islands, touching themselves at vertices
    parts.append(np.random.default_rng(0).random(len(closed)) < 0.5)
    _check_everything(closed, parts)
    _check_everything(model.faces.numpy())  # open at the wrist: one loop
    assert len(boundary_loops(model.faces)) == 1 and not is_watertight(model.faces)


def test_synthetic_meshes_give_the_former_results():
    _, sphere, _, _ = uv_sphere(6, 8)
    s = sphere.numpy()
    rng = np.random.default_rng(1)
    _check_everything(s, [(s == 0).any(1), rng.random(len(s)) < 0.3, np.ones(len(s), bool), np.zeros(len(s), bool)])
    _check_everything(s[rng.random(len(s)) < 0.7])  # open, with holes
    _check_everything(np.array([[0, 1, 2], [0, 2, 3]]))  # square
    _check_everything(np.array([[0, 1, 2], [0, 3, 4]]))  # bow tie: the boundary passes through 0 twice
    _check_everything(s[:, [0, 2, 1]][:5])  # flipped orientation
    _check_everything(np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]]))  # tetrahedron


def test_known_values():
    square = np.array([[0, 1, 2], [0, 2, 3]])
    assert [lp.tolist() for lp in boundary_loops(square)] == [[0, 1, 2, 3]]  # starts at the first half-edge
    assert edges(square).tolist() == [[0, 1], [0, 2], [0, 3], [1, 2], [2, 3]]
    assert edges(np.zeros((0, 3), np.int64)).shape == (0, 2)
    assert [n.tolist() for n in vertex_neighbors(square, 5)] == [[1, 2, 3], [0, 2], [0, 1, 3], [0, 2], []]
    tetra = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])
    assert is_watertight(tetra) and not is_watertight(tetra[:3]) and not is_watertight(np.vstack([tetra, tetra]))
    assert not is_watertight(np.array([[0, 1, 2], [0, 1, 2]]))  # twins missing, and the edges twice
    assert is_watertight(np.array([[0, 1, 2], [0, 2, 1]]))  # two faces back to back
    # vertex 0's first face (0, 2, 1): its ring starts at 2, then 1 (face (0, 2, 1)), 3 (face (0, 1, 3))
    assert ordered_one_rings(tetra, 4).tolist() == [[2, 1, 3], [0, 2, 3], [1, 0, 3], [0, 1, 2]]
    # the bow tie's two wedges at vertex 0 stay two simple loops; part of the square: one triangle's rim
    assert [lp.tolist() for lp in boundary_loops(np.array([[0, 1, 2], [0, 3, 4]]))] == [[0, 1, 2], [0, 3, 4]]
    assert [lp.tolist() for lp in part_boundary_loops(square, np.array([False, True]))] == [[0, 2, 3]]
    with pytest.raises(ValueError, match="vertex 4 is in no face"):
        ordered_one_rings(tetra, 5)


def test_meshes_of_one_shape_in_turn_give_their_own_loops():
    """The half-edge twins are kept for the last mesh: a mesh of the same shape must not reuse them."""
    _, sphere, _, _ = uv_sphere(6, 8)
    a = sphere.numpy().astype(np.int64)
    relabel = np.random.default_rng(2).permutation(int(a.max()) + 1)
    b = relabel[a]  # same shape, other vertex ids
    cap = (a == 0).any(1)
    for faces in (a, b, a, b[:, [0, 2, 1]]):
        _same_loops(part_boundary_loops(faces, cap), _old_part_boundary_loops(faces, cap))
