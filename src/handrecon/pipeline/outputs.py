"""Files written per image: meshes per hand (OBJ + MTL + texture PNG, PLY with vertex colours, GLB), one
JSON (documented schema) and one NPZ of arrays for all hands, an overlay PNG and a side view. All writes
are atomic: a file appears complete or not at all."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from handrecon.geometry.camera import PerspectiveCamera
from handrecon.io import save_npz_atomic, save_png_atomic, write_glb, write_json_atomic, write_obj, write_ply
from handrecon.pipeline.results import SCHEMA_VERSION, Hand
from handrecon.render.overlay import draw_skeleton, draw_uncertainty, overlay_mesh, side_view

MESH_FORMATS = ("obj", "ply", "glb")
OVERLAY_COLOR = (0.62, 0.72, 0.90)  # light blue: stands out against skin


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


def image_record(
    source: str, width: int, height: int, K: np.ndarray, hands: list[Hand], extra: dict | None = None
) -> dict:
    """The JSON document of one image (or video frame)."""
    rec = {
        "schema_version": SCHEMA_VERSION,
        "source": source,
        "image_size": {"width": int(width), "height": int(height)},
        "camera": {"K": np.round(K, 4).tolist(), "frame": "OpenCV: x right, y down, z forward; metres"},
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


def overlay_image(rgb: np.ndarray, hands: list[Hand], K: np.ndarray, uncertainty: bool = True) -> np.ndarray:
    """Shaded meshes over the photo, the 21-joint skeleton per hand and the per-joint sigma ellipses."""
    H, W = rgb.shape[:2]
    out = rgb
    if hands:
        cam = PerspectiveCamera(torch.as_tensor(K, dtype=torch.float32), W, H)
        v, f = _scene_mesh(hands)
        out = overlay_mesh(rgb, v, f, cam, alpha=0.75, color=OVERLAY_COLOR)
        for h in hands:
            size = float(np.ptp(h.joints_2d, axis=0).max())
            out = draw_skeleton(
                out, h.joints_2d, line_width=max(1, round(size / 60)), joint_radius=max(1, round(size / 45))
            )
            if uncertainty:
                out = draw_uncertainty(out, h.joints_2d, np.stack([h.sigma_2d, h.sigma_2d], -1))
    return out


def side_image(hands: list[Hand], K: np.ndarray, width: int, height: int) -> np.ndarray | None:
    if not hands:
        return None
    cam = PerspectiveCamera(torch.as_tensor(K, dtype=torch.float32), width, height)
    v, f = _scene_mesh(hands)
    return side_view(v, f, cam, angle_deg=90.0, color=OVERLAY_COLOR)


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
    out_dir.mkdir(parents=True, exist_ok=True)
    H, W = rgb.shape[:2]
    meshes: list[Path] = []
    arrays: dict[str, np.ndarray] = {"K": K}
    for i, h in enumerate(hands):
        hs = hand_stem(stem, i, h)
        if "obj" in mesh_formats:
            p = out_dir / f"{hs}.obj"
            write_obj(p, h.vertices, h.faces, uv=h.uv, faces_uv=h.faces_uv, texture=h.texture)
            meshes.append(p)
        if "ply" in mesh_formats:
            p = out_dir / f"{hs}.ply"
            write_ply(p, h.vertices, h.faces, vertex_colors=h.vertex_colors)
            meshes.append(p)
        if "glb" in mesh_formats:
            p = out_dir / f"{hs}.glb"
            # glTF multiplies a texture by vertex colours: the texture when there is one, else the colours
            colors = None if h.texture is not None else h.vertex_colors
            write_glb(p, h.vertices, h.faces, uv=h.uv, faces_uv=h.faces_uv, texture=h.texture, vertex_colors=colors)
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
        save_png_atomic(files.overlay, overlay_image(rgb, hands, K))
        side = side_image(hands, K, W, H)
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
