"""Official submission files of the hand benchmarks' evaluation servers.

- FreiHAND (Zimmermann et al. ICCV 2019; CodaLab server): `pred.json` = [xyz_list, verts_list], one entry
  per evaluation image in the set's order: 21 joints (FreiHAND's order = OpenPose-21) and the 778 MANO
  vertices, metres, camera frame (OpenCV axes). The evaluation split has 3960 images.
- HO3D v2 / v3 (Hampali et al. CVPR 2020; CodaLab servers): the same two lists in `pred.json`, zipped as
  `pred.zip` with pred.json at the archive root, but in OpenGL axes (y and z negated) and with the joints in
  HO3D's order (MANO's 16 joints, then the tips of thumb, index, middle, ring, pinky = handrecon's
  "mano" order). Evaluation splits: 11524 images (v2), 20137 (v3).
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import torch

from handrecon.hand.keypoints import convert_keypoints
from handrecon.io.atomic import write_bytes_atomic

FORMATS: dict[str, dict] = {
    "freihand": {"count": 3960, "opengl": False, "order": "openpose", "zip": False},
    "ho3d_v2": {"count": 11524, "opengl": True, "order": "mano", "zip": True},
    "ho3d_v3": {"count": 20137, "opengl": True, "order": "mano", "zip": True},
}
MANO_VERTICES = 778


def submission_lists(joints: np.ndarray, vertices: np.ndarray, fmt: str) -> list[list]:
    """[xyz_list, verts_list] of `fmt` from OpenCV-frame joints (N, 21, 3) OpenPose-21 and vertices (N, V, 3)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown submission format {fmt!r}; available: {', '.join(FORMATS)}")
    spec = FORMATS[fmt]
    j = convert_keypoints(torch.as_tensor(np.asarray(joints, np.float64)), "openpose", spec["order"]).numpy()
    v = np.asarray(vertices, np.float64)
    if spec["opengl"]:
        flip = np.array([1.0, -1.0, -1.0])
        j, v = j * flip, v * flip
    return [j.tolist(), v.tolist()]


def write_submission(joints: np.ndarray, vertices: np.ndarray, fmt: str, out_dir: str | Path) -> Path:
    """Write the file the server of `fmt` takes (pred.json, or pred.zip holding it); returns its path."""
    data = json.dumps(submission_lists(joints, vertices, fmt)).encode()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if not FORMATS[fmt]["zip"]:
        write_bytes_atomic(out / "pred.json", data)
        return out / "pred.json"
    import io

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("pred.json", data)
    write_bytes_atomic(out / "pred.zip", buf.getvalue())
    return out / "pred.zip"


def check_submission(path: str | Path, fmt: str) -> list[str]:
    """Problems that the server of `fmt` would reject the file for (empty list: conforms)."""
    spec = FORMATS[fmt]
    path = Path(path)
    if spec["zip"]:
        with zipfile.ZipFile(path) as z:
            if "pred.json" not in z.namelist():
                return [f"{path.name} has no pred.json at its root (it has {z.namelist()})"]
            obj = json.loads(z.read("pred.json"))
    else:
        obj = json.loads(path.read_text())
    problems = []
    if not (isinstance(obj, list) and len(obj) == 2):
        return ["pred.json must hold a list of two lists: [xyz_list, verts_list]"]
    xyz, verts = obj
    if len(xyz) != spec["count"] or len(verts) != spec["count"]:
        problems.append(f"{fmt} needs {spec['count']} entries, got {len(xyz)} joint sets and {len(verts)} meshes")
    if xyz and np.asarray(xyz[0]).shape != (21, 3):
        problems.append(f"joints must be 21 x 3, got {np.asarray(xyz[0]).shape}")
    if verts and np.asarray(verts[0]).shape != (MANO_VERTICES, 3):
        problems.append(f"vertices must be the {MANO_VERTICES} x 3 of MANO, got {np.asarray(verts[0]).shape}")
    return problems
