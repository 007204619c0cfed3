"""Mesh exporters: files re-load with trimesh with the same geometry, UVs, texture and colours."""

from __future__ import annotations

import json
import struct
from importlib import resources

import numpy as np
import pytest
import torch
import trimesh
from PIL import Image

import handrecon.io.mesh_export as mesh_export
from handrecon.geometry.mesh import plane_grid, uv_sphere
from handrecon.geometry.mesh import vertex_normals as mesh_vertex_normals
from handrecon.io import camera_to_gltf, write_glb, write_json_atomic, write_obj, write_ply
from handrecon.io.mesh_export import split_uv_seams

CENTRE = np.array([0.02, -0.01, 0.6])  # in front of the camera, metres


@pytest.fixture
def sphere():
    """A small closed mesh with a UV seam (per-corner UVs), placed in the camera frame."""
    v, f, uv, fuv = (x.numpy() for x in uv_sphere(6, 10, dtype=torch.float64))
    return v * 0.05 + CENTRE, f, uv, fuv


@pytest.fixture
def texture():
    tex = np.zeros((32, 48, 3), np.uint8)
    tex[:16, :24], tex[:16, 24:], tex[16:, :24], tex[16:, 24:] = (220, 40, 40), (40, 220, 40), (40, 40, 220), (9, 9, 9)
    return tex


def _names(directory) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def _load(path) -> trimesh.Trimesh:
    loaded = trimesh.load(path, process=False)
    if isinstance(loaded, trimesh.Scene):
        assert len(loaded.geometry) == 1
        (mesh,) = loaded.geometry.values()
        for node in loaded.graph.nodes_geometry:  # the node adds no transform of its own
            np.testing.assert_array_equal(loaded.graph[node][0], np.eye(4))
        return mesh
    return loaded


def _same_point_sets(a: np.ndarray, b: np.ndarray, tol: float = 1e-6) -> bool:
    """Every point of a has one of b within tol, and the other way round."""
    d = np.linalg.norm(np.asarray(a, float)[:, None] - np.asarray(b, float)[None], axis=-1)
    return bool((d.min(1) < tol).all() and (d.min(0) < tol).all())


# --- OBJ ----------------------------------------------------------------------------------------------


def test_obj_with_texture(tmp_path, sphere, texture):
    v, f, uv, fuv = sphere
    write_obj(tmp_path / "hand.obj", v, f, uv, fuv, texture)
    assert _names(tmp_path) == ["hand.mtl", "hand.obj", "hand_texture.png"]
    text = (tmp_path / "hand.obj").read_text().splitlines()
    assert "mtllib hand.mtl" in text and "usemtl hand" in text
    assert "map_Kd hand_texture.png" in (tmp_path / "hand.mtl").read_text().splitlines()
    vt = np.array([[float(x) for x in line.split()[1:]] for line in text if line.startswith("vt ")])
    np.testing.assert_allclose(vt, uv, atol=1e-8)  # v-up, as given
    corners = np.array([[c.split("/") for c in line.split()[1:]] for line in text if line.startswith("f ")], int)
    np.testing.assert_array_equal(corners[..., 0], f + 1)  # 1-based
    np.testing.assert_array_equal(corners[..., 1], fuv + 1)

    mesh = _load(tmp_path / "hand.obj")
    assert _same_point_sets(mesh.vertices, v)
    np.testing.assert_allclose(mesh.vertices[mesh.faces], v[f], atol=1e-8)  # same triangles, same order
    np.testing.assert_allclose(mesh.visual.uv[mesh.faces], uv[fuv], atol=1e-8)
    np.testing.assert_array_equal(np.asarray(mesh.visual.material.image.convert("RGB")), texture)


def test_obj_text_is_exact(tmp_path):
    """Nine significant digits per coordinate, 1-based corners, one line per row, in the file's order."""
    v = [[0.0, -0.0, 0.5], [1e-10, 2.0, 1.23456789012], [-3.5, 123456.789, 0.1]]
    write_obj(tmp_path / "m.obj", v, [[0, 1, 2]], uv=[[0.25, 1.0], [0.5, 0.0], [1 / 3, 0.75]], faces_uv=[[2, 1, 0]])
    assert (tmp_path / "m.obj").read_text().splitlines()[1:] == [
        "v 0 -0 0.5",
        "v 1e-10 2 1.23456789",
        "v -3.5 123456.789 0.1",
        "vt 0.25 1",
        "vt 0.5 0",
        "vt 0.333333333 0.75",
        "f 1/3 2/2 3/1",
    ]


def test_obj_plain_and_with_normals(tmp_path, sphere):
    v, f, _, _ = sphere
    write_obj(tmp_path / "plain.obj", torch.from_numpy(v), torch.from_numpy(f))
    assert _names(tmp_path) == ["plain.obj"]
    mesh = _load(tmp_path / "plain.obj")
    np.testing.assert_allclose(mesh.vertices, v, atol=1e-8)
    np.testing.assert_array_equal(mesh.faces, f)

    n = mesh_vertex_normals(torch.from_numpy(v), torch.from_numpy(f)).numpy()
    per_vertex_uv = (v[:, :2] - v[:, :2].min(0)) / np.ptp(v[:, :2], 0)
    write_obj(tmp_path / "n.obj", v, f, uv=per_vertex_uv, vertex_normals=n)
    faces = [line for line in (tmp_path / "n.obj").read_text().splitlines() if line.startswith("f ")]
    a, b, c = f[0] + 1
    assert faces[0] == f"f {a}/{a}/{a} {b}/{b}/{b} {c}/{c}/{c}"
    mesh = _load(tmp_path / "n.obj")
    np.testing.assert_allclose(mesh.vertex_normals, n, atol=1e-8)
    np.testing.assert_allclose(mesh.visual.uv, per_vertex_uv, atol=1e-8)


def test_obj_names_with_spaces(tmp_path, sphere, texture):
    v, f, uv, fuv = sphere
    write_obj(tmp_path / "my hand.obj", v, f, uv, fuv, texture)
    assert _names(tmp_path) == ["my hand.obj", "my_hand.mtl", "my_hand_texture.png"]
    mesh = _load(tmp_path / "my hand.obj")
    np.testing.assert_array_equal(np.asarray(mesh.visual.material.image.convert("RGB")), texture)


def test_obj_failure_leaves_no_partial_set(tmp_path, sphere, texture, monkeypatch):
    v, f, uv, fuv = sphere

    def broken_png(_):
        raise OSError("encoder crashed")

    monkeypatch.setattr(mesh_export, "png_bytes", broken_png)
    with pytest.raises(OSError):
        write_obj(tmp_path / "hand.obj", v, f, uv, fuv, texture)
    assert _names(tmp_path) == []


@pytest.mark.parametrize("writer", [write_obj, write_ply, write_glb])
def test_bad_meshes_are_refused_before_writing(tmp_path, sphere, writer):
    v, f, uv, fuv = sphere
    bad_v = v.copy()
    bad_v[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        writer(tmp_path / "x", bad_v, f)
    with pytest.raises(ValueError, match="outside"):
        writer(tmp_path / "x", v, np.vstack([f, [[0, 1, len(v)]]]))
    with pytest.raises(ValueError, match="shape"):
        writer(tmp_path / "x", v[:, :2], f)
    assert _names(tmp_path) == []


def test_texture_and_uv_rules(tmp_path, sphere, texture):
    v, f, uv, fuv = sphere
    for writer in (write_obj, write_glb):
        with pytest.raises(ValueError, match="uv"):
            writer(tmp_path / "x", v, f, texture=texture)
        with pytest.raises(ValueError, match="uv"):
            writer(tmp_path / "x", v, f, faces_uv=fuv)
        with pytest.raises(ValueError, match="per-vertex uv"):
            writer(tmp_path / "x", v, f, uv=uv)  # a UV table needs faces_uv
    with pytest.raises(ValueError, match="either"):
        write_glb(tmp_path / "x", v, f, uv, fuv, texture, vertex_colors=np.zeros((len(v), 3), np.uint8))
    assert _names(tmp_path) == []


# --- PLY ----------------------------------------------------------------------------------------------


def test_ply_binary_with_colours(tmp_path, sphere, rng):
    v, f, _, _ = sphere
    colours = rng.integers(0, 256, (len(v), 3), dtype=np.uint8)
    path = write_ply(tmp_path / "hand.ply", v, f, colours)
    data = path.read_bytes()
    header = data[: data.index(b"end_header\n") + 11].decode()
    assert "format binary_little_endian 1.0" in header
    assert len(data) == len(header) + len(v) * (3 * 4 + 3) + len(f) * (1 + 3 * 4)
    mesh = _load(path)
    np.testing.assert_allclose(mesh.vertices, v, atol=1e-6)  # float32 on disk
    np.testing.assert_array_equal(mesh.faces, f)
    np.testing.assert_array_equal(mesh.visual.vertex_colors[:, :3], colours)


def test_ply_without_colours_and_float_colours(tmp_path, sphere):
    v, f, _, _ = sphere
    mesh = _load(write_ply(tmp_path / "plain.ply", v, f))
    np.testing.assert_allclose(mesh.vertices, v, atol=1e-6)
    np.testing.assert_array_equal(mesh.faces, f)
    grey = np.full((len(v), 3), 0.5)
    mesh = _load(write_ply(tmp_path / "grey.ply", v, f, grey))
    np.testing.assert_array_equal(mesh.visual.vertex_colors[:, :3], 128)


# --- glTF binary -------------------------------------------------------------------------------------

_DTYPES = {5126: np.float32, 5125: np.uint32, 5121: np.uint8}
_WIDTH = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4}


def _read_glb(path) -> tuple[dict, bytes]:
    """Parse and check the GLB container by the glTF 2.0 specification."""
    data = path.read_bytes()
    magic, version, length = struct.unpack_from("<III", data, 0)
    assert (magic, version, length) == (0x46546C67, 2, len(data))
    json_len, json_type = struct.unpack_from("<II", data, 12)
    assert json_type == 0x4E4F534A and json_len % 4 == 0
    gltf = json.loads(data[20 : 20 + json_len])
    bin_len, bin_type = struct.unpack_from("<II", data, 20 + json_len)
    assert bin_type == 0x004E4942 and bin_len % 4 == 0 and 28 + json_len + bin_len == len(data)
    blob = data[28 + json_len :]
    assert gltf["asset"]["version"] == "2.0" and gltf["buffers"][0]["byteLength"] <= len(blob)
    for view in gltf["bufferViews"]:
        assert view["byteOffset"] % 4 == 0 and view["byteOffset"] + view["byteLength"] <= len(blob)
    return gltf, blob


def _accessor(gltf: dict, blob: bytes, index: int) -> np.ndarray:
    acc = gltf["accessors"][index]
    view = gltf["bufferViews"][acc["bufferView"]]
    width = _WIDTH[acc["type"]]
    dtype = np.dtype(_DTYPES[acc["componentType"]]).newbyteorder("<")
    assert acc["count"] * width * dtype.itemsize <= view["byteLength"]
    a = np.frombuffer(blob, dtype, acc["count"] * width, view["byteOffset"])
    return a.reshape(acc["count"], width) if width > 1 else a


def test_glb_structure_and_textured_content(tmp_path, sphere, texture):
    v, f, uv, fuv = sphere
    path = write_glb(tmp_path / "hand.glb", v, f, uv, fuv, texture)
    gltf, blob = _read_glb(path)
    (prim,) = gltf["meshes"][0]["primitives"]
    attr = prim["attributes"]
    pos = _accessor(gltf, blob, attr["POSITION"])
    acc = gltf["accessors"][attr["POSITION"]]
    assert acc["min"] == pos.min(0).tolist() and acc["max"] == pos.max(0).tolist()  # required, exact
    idx = _accessor(gltf, blob, prim["indices"])
    assert gltf["accessors"][prim["indices"]]["componentType"] == 5125 and idx.max() < len(pos)
    normals = _accessor(gltf, blob, attr["NORMAL"])
    np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1.0, atol=1e-6)
    tc = _accessor(gltf, blob, attr["TEXCOORD_0"])

    # seams split: one glTF vertex per distinct (vertex, uv) corner; positions unchanged as a set
    n_pairs = len(np.unique(np.stack([f.ravel(), fuv.ravel()], 1), axis=0))
    assert len(pos) == n_pairs > len(v)
    assert _same_point_sets(pos, camera_to_gltf(v))
    np.testing.assert_allclose(pos[: len(v)], camera_to_gltf(v), atol=1e-6)  # input order kept
    tri = idx.reshape(-1, 3)
    np.testing.assert_allclose(pos[tri], camera_to_gltf(v[f]), atol=1e-6)
    np.testing.assert_allclose(tc[tri], np.stack([uv[fuv][..., 0], 1 - uv[fuv][..., 1]], -1), atol=1e-6)  # v down

    material = gltf["materials"][prim["material"]]
    assert material["pbrMetallicRoughness"]["baseColorTexture"]["index"] == 0
    assert material["pbrMetallicRoughness"]["metallicFactor"] == 0.0
    image = gltf["images"][gltf["textures"][0]["source"]]
    view = gltf["bufferViews"][image["bufferView"]]
    png = blob[view["byteOffset"] : view["byteOffset"] + view["byteLength"]]
    np.testing.assert_array_equal(np.asarray(Image.open(__import__("io").BytesIO(png))), texture)


def test_glb_with_per_vertex_uv_keeps_the_vertices(tmp_path, texture):
    v, f, uv = (x.numpy() for x in plane_grid(4, 3, 0.1, 0.08, dtype=torch.float64))
    v = v + CENTRE
    gltf, blob = _read_glb(write_glb(tmp_path / "grid.glb", v, f, uv=uv, texture=texture))
    attr = gltf["meshes"][0]["primitives"][0]["attributes"]
    np.testing.assert_allclose(_accessor(gltf, blob, attr["POSITION"]), camera_to_gltf(v), atol=1e-6)
    np.testing.assert_allclose(_accessor(gltf, blob, attr["TEXCOORD_0"]), np.c_[uv[:, 0], 1 - uv[:, 1]], atol=1e-6)
    idx = _accessor(gltf, blob, gltf["meshes"][0]["primitives"][0]["indices"])
    np.testing.assert_array_equal(idx.reshape(-1, 3), f)


def test_glb_reloads_in_trimesh(tmp_path, sphere, texture):
    v, f, uv, fuv = sphere
    mesh = _load(write_glb(tmp_path / "hand.glb", v, f, uv, fuv, texture))
    assert _same_point_sets(mesh.vertices, camera_to_gltf(v))
    np.testing.assert_allclose(mesh.vertices[mesh.faces], camera_to_gltf(v[f]), atol=1e-6)
    np.testing.assert_allclose(mesh.visual.uv[mesh.faces], uv[fuv], atol=1e-6)  # trimesh turns v up again
    np.testing.assert_array_equal(np.asarray(mesh.visual.material.baseColorTexture.convert("RGB")), texture)
    outward = np.einsum("ij,ij->i", mesh.vertex_normals, mesh.vertices - camera_to_gltf(CENTRE))
    assert (outward > 0).all()


def test_glb_axes_show_the_photo_upright(tmp_path, sphere):
    v, f, _, _ = sphere
    mesh = _load(write_glb(tmp_path / "hand.glb", v, f))
    top, bottom = np.argmin(v[:, 1]), np.argmax(v[:, 1])  # smallest y = highest in the image
    assert mesh.vertices[top, 1] > mesh.vertices[bottom, 1]  # glTF y is up
    assert (mesh.vertices[:, 2] < 0).all()  # in front of a glTF camera at the origin (it looks along -z)
    np.testing.assert_allclose(mesh.vertices[:, 0], v[:, 0], atol=1e-6)  # x unchanged
    assert np.linalg.det(mesh_export.GLTF_FROM_CAMERA) == pytest.approx(1.0)  # a rotation: winding stays valid


def test_glb_vertex_colours_are_linear(tmp_path, sphere, rng):
    v, f, _, _ = sphere
    colours = rng.integers(0, 256, (len(v), 3), dtype=np.uint8)
    colours[:2] = [[0, 0, 0], [255, 128, 10]]
    mesh = _load(write_glb(tmp_path / "c.glb", v, f, vertex_colors=colours))
    stored = np.asarray(mesh.visual.vertex_attributes["color"], dtype=float)[:, :3]
    s = colours / 255.0
    expected = np.where(s <= 0.04045, s / 12.92, ((s + 0.055) / 1.055) ** 2.4)  # IEC 61966-2-1
    np.testing.assert_allclose(stored, expected, atol=1e-6)
    assert stored[1, 0] == pytest.approx(1.0) and stored[1, 1] == pytest.approx(0.2158605, abs=1e-6)


def test_glb_joints_match_the_json_through_the_documented_transform(tmp_path):
    """A real hand: the JSON joints (camera frame) map onto the GLB mesh by camera_to_gltf."""
    with resources.as_file(resources.files("handrecon.assets") / "openhand_right.npz") as p, np.load(p) as asset:
        v = asset["v_template"] + [0.03, -0.02, 0.55]
        faces = np.concatenate([asset["faces"], asset["cap_faces"]])
        uv, fuv, regressor = asset["uv"], asset["faces_uv"], asset["j_regressor"]
    write_json_atomic(tmp_path / "hand.json", {"joints_3d": regressor @ v, "frame": "opencv camera"})
    write_glb(tmp_path / "hand.glb", v, faces, uv, fuv, np.full((64, 64, 3), 180, np.uint8))
    joints = np.array(json.loads((tmp_path / "hand.json").read_text())["joints_3d"])
    mesh = _load(tmp_path / "hand.glb")
    assert len(mesh.vertices) >= len(v)
    np.testing.assert_allclose(regressor @ mesh.vertices[: len(v)], camera_to_gltf(joints), atol=1e-6)


def test_split_uv_seams():
    faces = np.array([[0, 1, 2], [2, 1, 3]])
    faces_uv = np.array([[0, 1, 2], [5, 4, 3]])  # vertices 1 and 2 carry different UVs in the two faces
    src_v, src_uv, new_faces = split_uv_seams(5, faces, faces_uv)  # vertex 4 is in no face
    assert len(src_v) == 7
    np.testing.assert_array_equal(src_v[:5], np.arange(5))
    assert src_uv[4] == -1
    np.testing.assert_array_equal(src_v[new_faces], faces)
    np.testing.assert_array_equal(src_uv[new_faces], faces_uv)
    pairs = set(zip(src_v.tolist(), src_uv.tolist(), strict=True))
    assert len(pairs) == 7


def test_split_uv_seams_orders_copies_as_the_sorted_corner_pairs():
    """Seam copies follow the (vertex, uv) pairs in sorted order, whatever the index ranges."""
    rng = np.random.default_rng(4)
    for n_vertices, n_uv in ((60, 70), (500, 3), (3, 900)):
        faces = rng.integers(0, n_vertices, (300, 3))
        faces_uv = rng.integers(0, n_uv, (300, 3))
        src_v, src_uv, new_faces = split_uv_seams(n_vertices, faces, faces_uv)
        pairs = np.unique(np.stack([faces.reshape(-1), faces_uv.reshape(-1)], 1), axis=0)
        copies = pairs[np.r_[False, pairs[1:, 0] == pairs[:-1, 0]]]
        np.testing.assert_array_equal(np.stack([src_v[n_vertices:], src_uv[n_vertices:]], 1), copies)
        np.testing.assert_array_equal(src_v[new_faces], faces)
        np.testing.assert_array_equal(src_uv[new_faces], faces_uv)


def test_obj_face_lines_of_every_layout(tmp_path, sphere):
    v, f, uv, fuv = sphere
    n = np.ones_like(v)
    a, b, c = f[0] + 1
    ta, tb, tc = fuv[0] + 1
    cases = {
        "plain": ({}, f"f {a} {b} {c}"),
        "n": ({"vertex_normals": n}, f"f {a}//{a} {b}//{b} {c}//{c}"),
        "uv": ({"uv": uv, "faces_uv": fuv}, f"f {a}/{ta} {b}/{tb} {c}/{tc}"),
        "uvn": ({"uv": uv, "faces_uv": fuv, "vertex_normals": n}, f"f {a}/{ta}/{a} {b}/{tb}/{b} {c}/{tc}/{c}"),
    }
    for name, (kwargs, first) in cases.items():
        write_obj(tmp_path / f"{name}.obj", v, f, **kwargs)
        lines = [ln for ln in (tmp_path / f"{name}.obj").read_text().splitlines() if ln.startswith("f ")]
        assert len(lines) == len(f) and lines[0] == first


def _reference_obj_lines(v, f, uv, fuv) -> list[str]:
    """The body of a textured OBJ formatted line by line: the text `write_obj` must produce, cached or not."""
    lines = ["v {:.9g} {:.9g} {:.9g}".format(*row) for row in np.asarray(v, np.float64)]
    lines += ["vt {:.9g} {:.9g}".format(*row) for row in np.asarray(uv, np.float64)]
    lines.append("usemtl hand")
    for fr, tr in zip(f, fuv, strict=True):
        lines.append("f " + " ".join(f"{a + 1}/{t + 1}" for a, t in zip(fr, tr, strict=True)))
    return lines


def test_meshes_sharing_a_topology_get_their_own_text_and_buffers(tmp_path, sphere, texture, rng, monkeypatch):
    """Face lines, UV lines, seam splits and PLY face records are made once per topology and reused: each of
    several meshes (the same shape and layout, other values; negative zero, huge and tiny coordinates,
    another UV table, other faces) is written exactly as a fresh writer writes it."""
    v0, f0, uv0, fuv0 = sphere
    meshes = [(v0, f0, uv0, fuv0)]
    v1 = v0 * rng.choice([-1.0, 1.0], v0.shape) * 10.0 ** rng.integers(-12, 12, v0.shape)
    v1[0] = [-0.0, 0.0, -0.0]
    meshes.append((v1, f0, uv0, fuv0))
    meshes.append((v0, f0, rng.uniform(0, 1, uv0.shape), fuv0))  # another UV table, same corners
    meshes.append((v0, f0[:, [0, 2, 1]], uv0, fuv0[:, [0, 2, 1]]))  # the same arrays' shapes, other faces

    def write_all(folder, v, f, uv, fuv):
        folder.mkdir()
        write_obj(folder / "m.obj", v, f, uv=uv, faces_uv=fuv, texture=texture)
        write_ply(folder / "m.ply", v, f)
        write_glb(folder / "m.glb", v, f, uv=uv, faces_uv=fuv, texture=texture)
        return {name: (folder / name).read_bytes() for name in _names(folder)}

    for k, (v, f, uv, fuv) in enumerate(meshes):
        # from k = 1 on, the first write finds another mesh's topology cached; the second its own
        written = [write_all(tmp_path / f"{k}_{rep}", v, f, uv, fuv) for rep in range(2)]
        assert (tmp_path / f"{k}_0" / "m.obj").read_text().splitlines()[2:] == _reference_obj_lines(v, f, uv, fuv)
        with monkeypatch.context() as m:  # a writer that never saw this topology
            m.setattr(mesh_export, "_TOPOLOGY", mesh_export._TopologyCache())
            fresh = write_all(tmp_path / f"{k}_fresh", v, f, uv, fuv)
        assert written[0] == fresh and written[1] == fresh
    assert len(mesh_export._TOPOLOGY._entries) <= mesh_export._TOPOLOGY.size


def test_topology_cache_keeps_its_size_and_read_only_results():
    cache = mesh_export._TopologyCache(size=2)
    made = []
    for k in range(4):
        a = np.full(3, k)
        out = cache.get("x", (a,), lambda a=a: made.append(1) or a * 2)
        assert np.array_equal(out, a * 2) and not out.flags.writeable
    assert len(made) == 4 and len(cache._entries) == 2
    cache.get("x", (np.full(3, 3),), lambda: made.append(1) or np.zeros(3))
    cache.get("x", (np.full(3, 3, dtype=np.int32),), lambda: made.append(1) or np.zeros(3))  # other dtype: a miss
    assert len(made) == 5
