"""Mesh exporters: OBJ (+ MTL + PNG texture), binary PLY and glTF 2.0 binary (GLB), all written atomically.

Coordinates: OBJ and PLY keep handrecon's camera frame exactly (OpenCV: x right, y down, z forward,
metres), so their vertices match the joints and vertices of the JSON / NPZ outputs one to one. GLB is
read by viewers that assume glTF's frame (y up, the camera looking along -z), so `write_glb` turns the
mesh by 180 degrees about x: (x, y, z) -> (x, -y, -z), see `camera_to_gltf`. This is a rotation, so
face winding and handedness stay valid, and a viewer camera at the origin sees the hand upright, as in
the photo. UVs are v-up (OBJ's convention and handrecon's); glTF's are v-down and get v -> 1 - v.
"""

from __future__ import annotations

import json
import os
import re
import struct
import threading
from pathlib import Path
from typing import Any

import numpy as np
import torch

from handrecon.geometry.mesh import vertex_normals as _vertex_normals
from handrecon.io.atomic import atomic_open, atomic_paths, png_bytes
from handrecon.io.colour import srgb_to_linear

GLTF_FROM_CAMERA = np.diag([1.0, -1.0, -1.0])  # OpenCV camera frame -> glTF frame used by write_glb


def camera_to_gltf(points: Any) -> np.ndarray:
    """Camera-frame points or directions (..., 3) -> the frame of `write_glb` files (x, -y, -z)."""
    return _np(points).astype(np.float64) @ GLTF_FROM_CAMERA.T


def _np(x: Any) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def _check_vertices(vertices: Any) -> np.ndarray:
    v = _np(vertices).astype(np.float64)
    if v.ndim != 2 or v.shape[1] != 3 or len(v) == 0:
        raise ValueError(f"vertices must have shape (V, 3) with V > 0, got {v.shape}")
    if not np.isfinite(v).all():
        raise ValueError("vertices contain NaN or infinite values")
    return v


def _check_faces(faces: Any, n: int, what: str = "faces", table: str = "vertices") -> np.ndarray:
    f = _np(faces)
    if f.ndim != 2 or f.shape[1] != 3 or len(f) == 0 or f.dtype.kind not in "iu":
        raise ValueError(f"{what} must be integers of shape (F, 3) with F > 0, got {f.shape} {f.dtype}")
    f = f.astype(np.int64)
    if f.min() < 0 or f.max() >= n:
        raise ValueError(f"{what} index {table} outside [0, {n})")
    return f


def _per_vertex(values: Any, n: int, what: str) -> np.ndarray:
    a = _np(values)
    if a.ndim != 2 or a.shape[0] != n:
        raise ValueError(f"{what} must have one row per vertex ({n}), got shape {a.shape}")
    return a


def _uv_layout(
    uv: Any, faces_uv: Any, faces: np.ndarray, n_vertices: int
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(UV table (T, 2), per-corner UV indices (F, 3)); per-vertex UVs index the table with the faces."""
    if uv is None:
        if faces_uv is not None:
            raise ValueError("faces_uv given without uv")
        return None, None
    t = _np(uv).astype(np.float64)
    if t.ndim != 2 or t.shape[1] != 2 or not np.isfinite(t).all():
        raise ValueError(f"uv must be finite with shape (T, 2), got {t.shape}")
    if faces_uv is None:
        if len(t) != n_vertices:
            raise ValueError(f"per-vertex uv needs {n_vertices} rows, got {len(t)}; or pass faces_uv")
        return t, faces
    fuv = _check_faces(faces_uv, len(t), "faces_uv", "uv rows")
    if fuv.shape != faces.shape:
        raise ValueError(f"faces_uv {fuv.shape} must match faces {faces.shape}")
    return t, fuv


def _companion_base(path: Path) -> str:
    """OBJ and MTL files name their companions without quoting, so whitespace in names must go."""
    return re.sub(r"\s+", "_", path.stem)


def _rows(line: str, values: np.ndarray) -> str:
    """`line` (a %-template ending in a newline) formatted with each row of `values` (N, k), joined."""
    return (line * len(values)) % tuple(values.reshape(-1).tolist()) if len(values) else ""


class _TopologyCache:
    """Results computed from a mesh's connectivity and UV layout alone (face lines of an OBJ, UV lines, the
    seam split of a GLB, a PLY's face records), kept for the next mesh with the same arrays: every hand of a
    folder shares MANO's topology, so these are made once per process instead of once per file. Keyed by the
    arrays' exact bytes (dtype and shape included), so a different mesh never gets another's result; the
    oldest entries go beyond `size`. Cached arrays are read-only."""

    def __init__(self, size: int = 16) -> None:
        self.size = size
        self._entries: dict[tuple, Any] = {}
        self._lock = threading.Lock()  # writer threads (a photo's files, a video's frames) may share it

    def get(self, kind: str, arrays: tuple[np.ndarray, ...], make: Any) -> Any:
        key = (kind, *((a.dtype.str, a.shape, a.tobytes()) for a in arrays))
        with self._lock:
            hit = self._entries.get(key)
        if hit is None:
            hit = make()
            for a in hit if isinstance(hit, tuple) else (hit,):
                if isinstance(a, np.ndarray):
                    a.flags.writeable = False
            with self._lock:
                while len(self._entries) >= self.size:
                    self._entries.pop(next(iter(self._entries)))
                self._entries[key] = hit
        return hit


_TOPOLOGY = _TopologyCache()


def _shared_rows(line: str, values: np.ndarray) -> str:
    """`_rows` for blocks that repeat from mesh to mesh (face indices, UV tables): formatted once."""
    return _TOPOLOGY.get(line, (values,), lambda: _rows(line, values))


def write_obj(
    path: str | os.PathLike,
    vertices: Any,
    faces: Any,
    uv: Any = None,
    faces_uv: Any = None,
    texture: Any = None,
    vertex_normals: Any = None,
    material_name: str = "hand",
) -> Path:
    """Wavefront OBJ in the camera frame; with a texture also `<stem>.mtl` and `<stem>_texture.png`.

    UVs are either per vertex (uv (V, 2)) or a table indexed per face corner (uv (T, 2) + faces_uv
    (F, 3)). The three files are renamed into place together, the OBJ last.
    """
    path = Path(path)
    v = _check_vertices(vertices)
    f = _check_faces(faces, len(v))
    t, fuv = _uv_layout(uv, faces_uv, f, len(v))
    if texture is not None and t is None:
        raise ValueError("a texture needs uv coordinates")
    n = None
    if vertex_normals is not None:
        n = _per_vertex(vertex_normals, len(v), "vertex_normals").astype(np.float64)

    base = _companion_base(path)
    mtl_path, tex_path = path.with_name(base + ".mtl"), path.with_name(base + "_texture.png")
    # Each block is one %-format over all its numbers (a line template repeated per row): the same text
    # as a format per line, at about half the cost for a hand mesh.
    parts = ["# handrecon mesh: OpenCV camera frame (x right, y down, z forward), metres\n"]
    if texture is not None:
        parts.append(f"mtllib {mtl_path.name}\n")
    parts.append(_rows("v %.9g %.9g %.9g\n", v))
    if t is not None:
        parts.append(_shared_rows("vt %.9g %.9g\n", t))
    if n is not None:
        parts.append(_rows("vn %.9g %.9g %.9g\n", n))
    if texture is not None:
        parts.append(f"usemtl {material_name}\n")
    # OBJ indices are 1-based; normals share the vertex index.
    vi = f + 1
    if fuv is not None and n is not None:
        corner, columns = "%d/%d/%d", [vi, fuv + 1, vi]
    elif fuv is not None:
        corner, columns = "%d/%d", [vi, fuv + 1]
    elif n is not None:
        corner, columns = "%d//%d", [vi, vi]
    else:
        corner, columns = "%d", [vi]
    values = np.stack(columns, -1).reshape(len(f), -1)  # per face: corner 0's indices, corner 1's, corner 2's
    parts.append(_shared_rows("f " + " ".join([corner] * 3) + "\n", values))
    obj_text = "".join(parts)

    if texture is None:
        with atomic_open(path, "w") as fh:
            fh.write(obj_text)
        return path
    mtl_text = f"newmtl {material_name}\nKa 1 1 1\nKd 1 1 1\nKs 0 0 0\nd 1\nillum 1\nmap_Kd {tex_path.name}\n"
    with atomic_paths(tex_path, mtl_path, path) as (tmp_tex, tmp_mtl, tmp_obj):
        tmp_tex.write_bytes(png_bytes(texture))
        tmp_mtl.write_text(mtl_text, encoding="utf-8")
        tmp_obj.write_text(obj_text, encoding="utf-8")
    return path


def _colors_uint8(colors: Any, n: int) -> np.ndarray:
    """(V, 3) or (V, 4) uint8, or floats in [0, 1], -> (V, 3) uint8 sRGB (alpha dropped)."""
    c = _per_vertex(colors, n, "vertex_colors")
    if c.shape[1] not in (3, 4):
        raise ValueError(f"vertex_colors must have 3 or 4 channels, got {c.shape[1]}")
    c = c[:, :3]
    if c.dtype.kind == "f":
        if not (np.isfinite(c).all() and c.min() >= 0 and c.max() <= 1):
            raise ValueError("float vertex_colors must lie in [0, 1]")
        return np.round(c * 255).astype(np.uint8)
    if c.dtype != np.uint8:
        raise ValueError(f"vertex_colors must be uint8 or float, got {c.dtype}")
    return c


def _ply_faces(faces: np.ndarray) -> np.ndarray:
    """A PLY's face records: a uchar count (3) and three little-endian int32 indices each."""
    face = np.empty(len(faces), dtype=[("n", "u1"), ("idx", "<i4", (3,))])
    face["n"], face["idx"] = 3, faces
    return face


def write_ply(path: str | os.PathLike, vertices: Any, faces: Any, vertex_colors: Any = None) -> Path:
    """Binary little-endian PLY in the camera frame, with optional per-vertex sRGB colours (uint8)."""
    v = _check_vertices(vertices)
    f = _check_faces(faces, len(v))
    fields = [("x", "<f4"), ("y", "<f4"), ("z", "<f4")]
    colors = None
    if vertex_colors is not None:
        colors = _colors_uint8(vertex_colors, len(v))
        fields += [("red", "u1"), ("green", "u1"), ("blue", "u1")]
    vert = np.empty(len(v), dtype=fields)
    vert["x"], vert["y"], vert["z"] = v[:, 0], v[:, 1], v[:, 2]
    if colors is not None:
        vert["red"], vert["green"], vert["blue"] = colors[:, 0], colors[:, 1], colors[:, 2]
    face = _TOPOLOGY.get("ply faces", (f,), lambda: _ply_faces(f))
    props = "".join(f"property {'float' if t == '<f4' else 'uchar'} {name}\n" for name, t in fields)
    header = (
        "ply\nformat binary_little_endian 1.0\n"
        "comment handrecon mesh: OpenCV camera frame (x right, y down, z forward), metres\n"
        f"element vertex {len(v)}\n{props}"
        f"element face {len(f)}\nproperty list uchar int vertex_indices\nend_header\n"
    )
    with atomic_open(path, "wb") as fh:
        fh.write(header.encode("ascii"))
        fh.write(vert.tobytes())
        fh.write(face.tobytes())
    return Path(path)


def split_uv_seams(
    n_vertices: int, faces: np.ndarray, faces_uv: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One vertex per distinct (vertex, uv) corner pair, as formats with a single index per vertex need.

    Returns (source vertex (N,), source uv row (N,), new faces (F, 3)). The first `n_vertices` entries
    are the input vertices in order (each with one of its UVs, -1 when it is in no face), seam copies
    follow, so per-vertex data indexed by the input still addresses the same vertices.
    """
    # Pairs as one integer each (vertex major): a 1-D unique, in the order of the lexicographic row sort.
    span = int(faces_uv.max()) + 1 if faces_uv.size else 1
    keys, inverse = np.unique(faces.reshape(-1).astype(np.int64) * span + faces_uv.reshape(-1), return_inverse=True)
    uniq = np.stack([keys // span, keys % span], 1)
    first = np.ones(len(uniq), dtype=bool)
    first[1:] = uniq[1:, 0] != uniq[:-1, 0]
    new_index = np.empty(len(uniq), dtype=np.int64)
    new_index[first] = uniq[first, 0]
    new_index[~first] = n_vertices + np.arange(int((~first).sum()))
    src_uv = np.full(n_vertices, -1, dtype=np.int64)
    src_uv[uniq[first, 0]] = uniq[first, 1]
    src_v = np.concatenate([np.arange(n_vertices), uniq[~first, 0]])
    src_uv = np.concatenate([src_uv, uniq[~first, 1]])
    return src_v, src_uv, new_index[inverse.reshape(-1)].reshape(-1, 3)


def _gltf_uv(table: np.ndarray, src_uv: np.ndarray) -> np.ndarray:
    """Per glTF vertex UV (float32, v down) from the UV table and each vertex's UV row (-1: none, 0 0)."""
    tex_uv = np.where(src_uv[:, None] >= 0, table[np.maximum(src_uv, 0)], 0.0)
    tex_uv[:, 1] = 1.0 - tex_uv[:, 1]
    return tex_uv.astype(np.float32)


class _GlbBuffer:
    """The binary chunk of a GLB, assembled view by view with 4-byte alignment."""

    _COMPONENTS = {np.dtype("float32"): 5126, np.dtype("uint32"): 5125, np.dtype("uint8"): 5121}
    _TYPES = {1: "SCALAR", 2: "VEC2", 3: "VEC3", 4: "VEC4"}

    def __init__(self) -> None:
        self.data = bytearray()
        self.views: list[dict] = []
        self.accessors: list[dict] = []

    def view(self, payload: bytes, target: int | None = None) -> int:
        self.data += b"\0" * (-len(self.data) % 4)
        view = {"buffer": 0, "byteOffset": len(self.data), "byteLength": len(payload)}
        if target is not None:
            view["target"] = target
        self.views.append(view)
        self.data += payload
        return len(self.views) - 1

    def accessor(self, array: np.ndarray, target: int, min_max: bool = False, normalized: bool = False) -> int:
        a = np.ascontiguousarray(array)
        width = 1 if a.ndim == 1 else a.shape[1]
        acc = {
            "bufferView": self.view(a.astype(a.dtype.newbyteorder("<")).tobytes(), target),
            "componentType": self._COMPONENTS[a.dtype],
            "count": int(a.shape[0]),
            "type": self._TYPES[width],
        }
        if normalized:
            acc["normalized"] = True
        if min_max:
            acc["min"] = a.reshape(len(a), -1).min(0).tolist()
            acc["max"] = a.reshape(len(a), -1).max(0).tolist()
        self.accessors.append(acc)
        return len(self.accessors) - 1


def write_glb(
    path: str | os.PathLike,
    vertices: Any,
    faces: Any,
    uv: Any = None,
    faces_uv: Any = None,
    texture: Any = None,
    vertex_colors: Any = None,
    normals: Any = None,
    material_name: str = "hand",
) -> Path:
    """glTF 2.0 binary in glTF's frame (`camera_to_gltf`), with a PNG texture or vertex colours.

    Vertices are split where per-corner UVs differ (see `split_uv_seams`); the first V vertices of the
    file are the input's, in order. Normals default to area-weighted vertex normals of the input mesh
    (so seams stay invisible). Vertex colours are sRGB (uint8 or [0, 1] floats) and are stored as the
    linear COLOR_0 glTF asks for; give either a texture or vertex colours. The material is
    non-metallic and double-sided.
    """
    v = _check_vertices(vertices)
    f = _check_faces(faces, len(v))
    t, fuv = _uv_layout(uv, faces_uv, f, len(v))
    if texture is not None and t is None:
        raise ValueError("a texture needs uv coordinates")
    if texture is not None and vertex_colors is not None:
        raise ValueError("give either a texture or vertex colours, not both (glTF would multiply them)")
    if normals is None:
        n = _vertex_normals(torch.from_numpy(v), torch.from_numpy(f)).numpy()
    else:
        n = _per_vertex(normals, len(v), "normals").astype(np.float64)
    length = np.linalg.norm(n, axis=1, keepdims=True)
    n = np.where(length > 1e-12, n / np.maximum(length, 1e-12), [0.0, 0.0, -1.0])  # no normal: face the camera

    src_v = src_uv = np.arange(len(v))
    if faces_uv is not None:  # per-corner UVs: one glTF vertex per distinct (vertex, uv) pair
        corners = (len(v), f, fuv)
        src_v, src_uv, f = _TOPOLOGY.get(f"uv seams, {len(v)} vertices", corners[1:], lambda: split_uv_seams(*corners))

    buf = _GlbBuffer()
    attributes = {
        "POSITION": buf.accessor(camera_to_gltf(v[src_v]).astype(np.float32), 34962, min_max=True),
        "NORMAL": buf.accessor(camera_to_gltf(n[src_v]).astype(np.float32), 34962),
    }
    if t is not None:
        tex_uv = _TOPOLOGY.get("gltf uv", (t, src_uv), lambda: _gltf_uv(t, src_uv))
        attributes["TEXCOORD_0"] = buf.accessor(tex_uv, 34962)
    if vertex_colors is not None:
        linear = srgb_to_linear(_colors_uint8(vertex_colors, len(v)).astype(np.float64) / 255.0)
        attributes["COLOR_0"] = buf.accessor(linear[src_v].astype(np.float32), 34962)
    indices = buf.accessor(f.reshape(-1).astype(np.uint32), 34963)

    pbr: dict[str, Any] = {"baseColorFactor": [1.0, 1.0, 1.0, 1.0], "metallicFactor": 0.0, "roughnessFactor": 0.7}
    gltf: dict[str, Any] = {"asset": {"version": "2.0", "generator": "handrecon"}}
    if texture is not None:
        image_view = buf.view(png_bytes(texture))
        gltf["images"] = [{"bufferView": image_view, "mimeType": "image/png"}]
        # Linear filtering, clamped: UV atlases must not bleed across their borders.
        gltf["samplers"] = [{"magFilter": 9729, "minFilter": 9987, "wrapS": 33071, "wrapT": 33071}]
        gltf["textures"] = [{"sampler": 0, "source": 0}]
        pbr["baseColorTexture"] = {"index": 0}
    gltf.update(
        scene=0,
        scenes=[{"nodes": [0]}],
        nodes=[{"mesh": 0, "name": material_name}],
        meshes=[{"primitives": [{"attributes": attributes, "indices": indices, "material": 0, "mode": 4}]}],
        materials=[{"name": material_name, "pbrMetallicRoughness": pbr, "doubleSided": True}],
        accessors=buf.accessors,
        bufferViews=buf.views,
        buffers=[{"byteLength": len(buf.data)}],
    )
    json_chunk = json.dumps(gltf, separators=(",", ":")).encode("utf-8")
    json_chunk += b" " * (-len(json_chunk) % 4)
    bin_chunk = bytes(buf.data) + b"\0" * (-len(buf.data) % 4)
    total = 12 + 8 + len(json_chunk) + 8 + len(bin_chunk)
    with atomic_open(path, "wb") as fh:
        fh.write(struct.pack("<III", 0x46546C67, 2, total))
        fh.write(struct.pack("<II", len(json_chunk), 0x4E4F534A) + json_chunk)
        fh.write(struct.pack("<II", len(bin_chunk), 0x004E4942) + bin_chunk)
    return Path(path)
