"""Files written per image: meshes per hand (OBJ + MTL + texture PNG, PLY with vertex colours, GLB), one
JSON (documented schema) and one NPZ of arrays for all hands, an overlay PNG and a side view. All writes
are atomic: a file appears complete or not at all."""

from __future__ import annotations

import contextlib
import itertools
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from handrecon.geometry.camera import PerspectiveCamera
from handrecon.io import (
    atomic_group,
    downscale_for_processing,
    png_bytes,
    save_npz_atomic,
    save_png_atomic,
    write_glb,
    write_json_atomic,
    write_obj,
    write_ply,
)
from handrecon.pipeline.naming import output_stems, safe_stem  # noqa: F401  (also named from here)
from handrecon.pipeline.results import SCHEMA_VERSION, Hand
from handrecon.render.overlay import draw_hands_2d, overlay_and_side_view, overlay_mesh, side_view

MESH_FORMATS = ("obj", "ply", "glb")
OVERLAY_COLOR = (0.62, 0.72, 0.90)  # light blue: stands out against skin
# Overlays and side views of larger photos are drawn on a downscaled copy: a picture to look at gains
# nothing from 100 megapixels, and rendering at that size costs gigabytes.
OVERLAY_MAX_SIDE = 2048


@dataclass
class WrittenFiles:
    json: Path
    npz: Path
    overlay: Path | None = None
    side: Path | None = None
    meshes: list[Path] = field(default_factory=list)

    def all(self) -> list[Path]:
        return [p for p in (self.json, self.npz, self.overlay, self.side, *self.meshes) if p is not None]


def hand_stem(stem: str, index: int, hand: Hand) -> str:
    return f"{stem}_hand{index}_{hand.handedness}"


HAND_FILE_SUFFIXES = (".obj", ".mtl", "_texture.png", ".ply", ".glb")  # the files of one hand, after hand_stem


def _remove_stale_outputs(out_dir: Path, stem: str, keep: set[str], hands: int) -> None:
    """Remove files an earlier run wrote for this stem that this run did not (another hand count, other
    mesh formats, overlays no longer asked for): a result's folder then holds only what its JSON lists.

    The names are probed rather than found by listing the folder, which cost a folder of 5000 results
    56 ms of CPU per photo: the overlay and side view, and every hand file name of hand 0, 1, ... (either
    side), up to the first index past this run's `hands` with no file (a run numbers its hands from 0)."""
    candidates = [f"{stem}_overlay.png", f"{stem}_side.png"]
    for index in itertools.count():
        names = [f"{stem}_hand{index}_{side}{suffix}" for side in ("left", "right") for suffix in HAND_FILE_SUFFIXES]
        present = [n for n in names if os.path.lexists(out_dir / n)]
        if not present and index >= hands:
            break
        candidates += present
    for name in candidates:
        if name not in keep and (out_dir / name).is_file():
            with contextlib.suppress(OSError):
                (out_dir / name).unlink()


def image_record(
    source: str, width: int, height: int, K: np.ndarray, hands: list[Hand], extra: dict | None = None
) -> dict:
    """The JSON document of one image (or video frame)."""
    rec = {
        "schema_version": SCHEMA_VERSION,
        "source": source,
        "image_size": {"width": int(width), "height": int(height)},
        "camera": {
            "K": np.asarray(K, dtype=np.float64).tolist(),
            "frame": "OpenCV: x right, y down, z forward; metres",
        },
        "pixel_convention": "continuous: image corner at (0, 0), pixel centres at +0.5",
        "hands": [h.to_dict() for h in hands],
    }
    if extra:
        rec.update(extra)
    return rec


def _scene_mesh(hands: list[Hand]) -> tuple[torch.Tensor, torch.Tensor]:
    verts, faces, off = [], [], 0
    for h in hands:
        verts.append(torch.as_tensor(h.vertices, dtype=torch.float32))
        faces.append(torch.as_tensor(h.faces, dtype=torch.long) + off)
        off += len(h.vertices)
    return torch.cat(verts)[None], torch.cat(faces)


def scaled_intrinsics(K: np.ndarray, scale: float) -> np.ndarray:
    """K of the same camera for the image resized by `scale` (continuous pixel coordinates)."""
    Ks = np.array(K, dtype=np.float64)
    Ks[:2] *= scale
    return Ks


def overlay_image(
    rgb: np.ndarray, hands: list[Hand], K: np.ndarray, uncertainty: bool = True, max_side: int = OVERLAY_MAX_SIDE
) -> np.ndarray:
    """Shaded meshes over the photo, the 21-joint skeleton per hand and the per-joint sigma ellipses; on a
    copy downscaled to `max_side` when the photo is larger."""
    small, s = downscale_for_processing(rgb, max_side)
    if not hands:
        return small
    cam, v, f = _overlay_scene(small, s, hands, K)
    return _draw_joints(overlay_mesh(small, v, f, cam, alpha=0.75, color=OVERLAY_COLOR), hands, s, uncertainty)


def _overlay_scene(
    small: np.ndarray, s: float, hands: list[Hand], K: np.ndarray
) -> tuple[PerspectiveCamera, torch.Tensor, torch.Tensor]:
    """The camera of the photo downscaled by `s` to `small`, and the hands' scene mesh (vertices, faces)."""
    cam = PerspectiveCamera(torch.as_tensor(scaled_intrinsics(K, s), dtype=torch.float32), *small.shape[1::-1])
    return (cam, *_scene_mesh(hands))


def _draw_joints(image: np.ndarray, hands: list[Hand], s: float, uncertainty: bool) -> np.ndarray:
    """Each hand's skeleton (line width and joint size from its size in the image) and sigma ellipses."""
    drawn = []
    for h in hands:
        joints_2d = h.joints_2d * s
        size = float(np.ptp(joints_2d, axis=0).max())
        sigma = np.stack([h.sigma_2d, h.sigma_2d], -1) * s if uncertainty else None
        drawn.append((joints_2d, sigma, max(1, round(size / 60)), max(1, round(size / 45))))
    return draw_hands_2d(image, drawn)


def side_image(
    hands: list[Hand], K: np.ndarray, width: int, height: int, max_side: int = OVERLAY_MAX_SIDE
) -> np.ndarray | None:
    """The hands turned 90 degrees about the vertical axis, seen by the same camera (downscaled to
    `max_side` like the overlay)."""
    if not hands:
        return None
    s = min(1.0, max_side / max(width, height))
    if s < 1.0:
        K = scaled_intrinsics(K, s)
        width, height = max(1, round(width * s)), max(1, round(height * s))
    cam = PerspectiveCamera(torch.as_tensor(K, dtype=torch.float32), width, height)
    v, f = _scene_mesh(hands)
    return side_view(v, f, cam, angle_deg=90.0, color=OVERLAY_COLOR)


def overlay_and_side_images(
    rgb: np.ndarray, hands: list[Hand], K: np.ndarray, max_side: int = OVERLAY_MAX_SIDE
) -> tuple[np.ndarray, np.ndarray | None]:
    """(`overlay_image(rgb, hands, K)`, `side_image(hands, K, width, height)`), the same pixels, with the
    meshes of both rasterized in one batch (`overlay_and_side_view`)."""
    small, s = downscale_for_processing(rgb, max_side)
    if not hands:
        return small, None
    cam, v, f = _overlay_scene(small, s, hands, K)
    overlay, side = overlay_and_side_view(small, v, f, cam, alpha=0.75, color=OVERLAY_COLOR, angle_deg=90.0)
    return _draw_joints(overlay, hands, s, True), side


def write_image_outputs(
    out_dir: Path,
    stem: str,
    source: str,
    rgb: np.ndarray,
    hands: list[Hand],
    K: np.ndarray,
    mesh_formats: tuple[str, ...] = MESH_FORMATS,
    overlay: bool = True,
    extra: dict | None = None,
) -> WrittenFiles:
    """Every file of one image, committed together (`atomic_group`: all or none, the JSON last, one fsync
    burst); then files an earlier run wrote for this stem and this run did not are removed."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_group():
        files = _write_image_files(out_dir, stem, source, rgb, hands, K, mesh_formats, overlay, extra)
    keep = {p.name for p in files.all()}
    keep |= {m.with_suffix(".mtl").name for m in files.meshes if m.suffix == ".obj"}
    keep |= {f"{m.stem}_texture.png" for m in files.meshes if m.suffix == ".obj"}
    _remove_stale_outputs(out_dir, stem, keep, len(hands))
    return files


def _write_image_files(
    out_dir: Path,
    stem: str,
    source: str,
    rgb: np.ndarray,
    hands: list[Hand],
    K: np.ndarray,
    mesh_formats: tuple[str, ...],
    overlay: bool,
    extra: dict | None,
) -> WrittenFiles:
    H, W = rgb.shape[:2]
    meshes: list[Path] = []
    arrays: dict[str, np.ndarray] = {"K": K}
    for i, h in enumerate(hands):
        hs = hand_stem(stem, i, h)
        # one PNG encoding of the texture for the OBJ's file and the GLB's embedded image
        texture = None if h.texture is None or not {"obj", "glb"} & set(mesh_formats) else png_bytes(h.texture)
        if "obj" in mesh_formats:
            p = out_dir / f"{hs}.obj"
            write_obj(p, h.vertices, h.faces, uv=h.uv, faces_uv=h.faces_uv, texture=texture)
            meshes.append(p)
        if "ply" in mesh_formats:
            p = out_dir / f"{hs}.ply"
            write_ply(p, h.vertices, h.faces, vertex_colors=h.vertex_colors)
            meshes.append(p)
        if "glb" in mesh_formats:
            p = out_dir / f"{hs}.glb"
            # glTF multiplies a texture by vertex colours: the texture when there is one, else the colours
            colors = None if h.texture is not None else h.vertex_colors
            write_glb(p, h.vertices, h.faces, uv=h.uv, faces_uv=h.faces_uv, texture=texture, vertex_colors=colors)
            meshes.append(p)
        for key in ("joints_3d", "joints_2d", "keypoints_2d_detected", "sigma_2d", "vertices", "global_orient",
                    "hand_pose", "betas", "transl", "joint_angles_deg"):  # fmt: skip
            arrays[f"hand{i}_{key}"] = np.asarray(getattr(h, key))
        arrays[f"hand{i}_faces"] = np.asarray(h.faces, dtype=np.int32)
        if h.bone_scales is not None:
            arrays[f"hand{i}_bone_scales"] = h.bone_scales
        if h.vertex_colors is not None:
            arrays[f"hand{i}_vertex_colors"] = h.vertex_colors
    files = WrittenFiles(json=out_dir / f"{stem}.json", npz=out_dir / f"{stem}.npz", meshes=meshes)
    save_npz_atomic(files.npz, arrays)
    if overlay:
        files.overlay = out_dir / f"{stem}_overlay.png"
        overlay_rgb, side = overlay_and_side_images(rgb, hands, K)
        save_png_atomic(files.overlay, overlay_rgb)
        if side is not None:
            files.side = out_dir / f"{stem}_side.png"
            save_png_atomic(files.side, side)
    rec = image_record(source, W, H, K, hands, extra)
    rec["files"] = {
        "npz": files.npz.name,
        "overlay": files.overlay.name if files.overlay else None,
        "side_view": files.side.name if files.side else None,
        "meshes": [m.name for m in meshes],
    }
    write_json_atomic(files.json, rec)  # last: its presence means the image's outputs are complete
    return files
