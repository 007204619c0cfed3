"""Inspect how a hand asset's skeleton and skinning deform the mesh: pictures and numbers.

For each finger bent to its range-of-motion limit at each of its three joints (alone), a fist and a pinch:
renders (PNG) and, per finger under full flexion of its three joints, the change of the closed mesh's
volume; in the fist, the deepest self-penetration (`handrecon.priors.penetration.self_penetration`).

Run: python tools/inspect_hand_rig.py [--asset PATH] [--out DIR] [--label NAME]
(--asset defaults to the bundled openhand; pictures go to DIR/NAME_*.png.)
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import torch

from handrecon.geometry.camera import PerspectiveCamera
from handrecon.hand.anatomy import Anatomy
from handrecon.hand.asset import load_asset_npz, load_openhand
from handrecon.hand.model import HandModel
from handrecon.hand.rom import JOINT_KINDS, range_of_motion
from handrecon.priors.penetration import self_penetration
from handrecon.render.overlay import hstack_images, render_mesh_image, save_png

FINGERS = {"index": (0, 1, 2), "middle": (3, 4, 5), "pinky": (6, 7, 8), "ring": (9, 10, 11), "thumb": (12, 13, 14)}
MANO_JOINTS = {"index": (1, 2, 3), "middle": (4, 5, 6), "pinky": (7, 8, 9), "ring": (10, 11, 12), "thumb": (13, 14, 15)}
# Views: rotation from the hand's canonical frame (x radial, y distal, z palmar) to the camera's.
VIEWS = {
    "radial": np.array([[0.0, 1.0, 0.0], [0.0, 0.0, -1.0], [-1.0, 0.0, 0.0]]),
    "ulnar": np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]) @ np.diag([1.0, 1.0, 1.0]),
    "palmar": np.array([[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, -1.0]]),
    "dorsal": np.array([[-1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, 1.0]]),
}
FINGER_VIEW = {"index": "radial", "middle": "radial", "ring": "ulnar", "pinky": "ulnar", "thumb": "palmar"}


def closed_volume(v: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """(B,) volume enclosed by a closed, outward-oriented triangle mesh (divergence theorem)."""
    a, b, c = v[:, faces[:, 0]], v[:, faces[:, 1]], v[:, faces[:, 2]]
    return (a * torch.cross(b, c, dim=-1)).sum((-1, -2)) / 6.0


def pose_angles(anatomy: Anatomy, changes: dict[int, tuple[float, float, float]]) -> torch.Tensor:
    """Rest anatomical angles (1, 15, 3) with some joints set to (bend, splay, twist) degrees (None keeps rest)."""
    ang = anatomy.rest_angles().clone()[None]
    for j, vals in changes.items():
        for k, x in enumerate(vals):
            if x is not None:
                ang[0, j, k] = math.radians(x)
    return ang


def render(model: HandModel, verts: torch.Tensor, view: str, size: int = 360, faces=None) -> np.ndarray:
    """The mesh (only `faces`, default the closed surface) seen from one side, filling the picture."""
    faces = model.faces_closed if faces is None else faces
    R = torch.as_tensor(VIEWS[view], dtype=verts.dtype)
    used = verts[0, torch.unique(faces)]
    c = (used.amax(0) + used.amin(0)) / 2
    v = (verts[0] - c) @ R.T
    half = float(((used - c) @ R.T)[:, :2].abs().amax())
    depth = 0.5
    f = 0.45 * size * depth / half
    v = v + torch.tensor([0.0, 0.0, depth], dtype=verts.dtype)
    K = torch.tensor([[f, 0, size / 2], [0, f, size / 2], [0, 0, 1]], dtype=verts.dtype)
    rgb, mask = render_mesh_image(v[None], faces, PerspectiveCamera(K, size, size))
    out = np.full_like(rgb, 255)
    out[mask] = rgb[mask]
    return out


def finger_faces(model: HandModel, finger: str) -> torch.Tensor:
    """Closed-surface faces of one finger and the palm (the other fingers left out, so the bend shows)."""
    dom = model.lbs_weights.argmax(1)
    keep_v = torch.isin(dom, torch.tensor((0, *MANO_JOINTS[finger])))
    f = model.faces_closed
    return f[keep_v[f].all(1)]


def pinch_pose(model: HandModel, anatomy: Anatomy, rom: torch.Tensor, steps: int = 300):
    """Posed vertices of a tip pinch and the remaining tip gap (m): the index and thumb joints' angles, inside
    their ranges, moved by gradient descent until the two fingertips meet (the other fingers stay at rest)."""
    start = pose_angles(anatomy, {0: (40.0, 0.0, None), 1: (45.0, None, None), 2: (20.0, None, None),
                                  12: (-10.0, 50.0, 0.0), 13: (20.0, None, None), 14: (20.0, None, None)})  # fmt: skip
    free = torch.zeros(15, 3, dtype=torch.bool)
    free[[0, 1, 2, 12, 13, 14], 0] = True
    free[[0, 12], 1] = True
    lo, hi = torch.deg2rad(rom[..., 0])[None], torch.deg2rad(rom[..., 1])[None]
    x = start.clone().requires_grad_(True)
    opt = torch.optim.Adam([x], lr=0.02)
    for _ in range(steps):
        ang = torch.where(free, torch.maximum(torch.minimum(x, hi), lo), start)
        j = model(hand_pose=anatomy.euler_to_rotations(ang), joint_order="mano", skin_mesh=False).joints
        loss = (j[0, 16] - j[0, 17]).square().sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        ang = torch.where(free, torch.maximum(torch.minimum(x, hi), lo), start)
        out = model(hand_pose=anatomy.euler_to_rotations(ang), joint_order="mano")
    return out.vertices, float((out.joints[0, 16] - out.joints[0, 17]).norm())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--asset", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=Path("rig_pictures"))
    ap.add_argument("--label", default="openhand")
    args = ap.parse_args()
    asset = load_openhand() if args.asset is None else load_asset_npz(args.asset, name="openhand", side="right")
    model = HandModel(asset=asset, dtype=torch.float64)
    anatomy = Anatomy.from_hand_model(model)
    rom = torch.rad2deg(range_of_motion(torch.float64))
    args.out.mkdir(parents=True, exist_ok=True)

    def pose(changes):
        R = anatomy.euler_to_rotations(pose_angles(anatomy, changes))
        return model(hand_pose=R).vertices

    rest = pose({})
    vol_rest = float(closed_volume(rest, model.faces_closed)[0])
    print(f"{args.label}: rest volume {vol_rest * 1e6:.1f} cm^3")
    # One finger joint at a time to its flexion limit (the thumb CMC: its palmar-abduction limit).
    for finger, joints in FINGERS.items():
        tiles = [render(model, rest, FINGER_VIEW[finger], faces=finger_faces(model, finger))]
        for j in joints:
            lim = float(rom[j, 1, 1]) if JOINT_KINDS[j] == "cmc" else float(rom[j, 0, 1])
            change = {j: (None, lim, None)} if JOINT_KINDS[j] == "cmc" else {j: (lim, None, None)}
            tiles.append(render(model, pose(change), FINGER_VIEW[finger], faces=finger_faces(model, finger)))
        full = pose({j: ((None, float(rom[j, 1, 1]), None) if JOINT_KINDS[j] == "cmc" else (float(rom[j, 0, 1]), None, None)) for j in joints})  # noqa: E501
        tiles.append(render(model, full, FINGER_VIEW[finger], faces=finger_faces(model, finger)))
        save_png(hstack_images(tiles, gap=4), args.out / f"{args.label}_{finger}.png")
        dv = float(closed_volume(full, model.faces_closed)[0]) - vol_rest
        print(f"  {finger}: full flexion volume change {dv * 1e6:+.2f} cm^3 ({100 * dv / vol_rest:+.2f} % of the hand)")
    # Fist: every finger joint at its flexion limit; thumb flexed across (CMC abducted, MCP and IP flexed).
    fingers = ("index", "middle", "ring", "pinky")
    fist_changes = {j: (float(rom[j, 0, 1]), 0.0, None) for f in fingers for j in FINGERS[f]}
    fist_changes.update({12: (0.0, 45.0, 0.0), 13: (45.0, None, None), 14: (60.0, None, None)})
    fist = pose(fist_changes)
    pen = self_penetration(fist, model)
    depth = float(pen.distance.max()) * 1000 if pen.inside.any() else 0.0
    print(f"  fist: deepest self-penetration {depth:.1f} mm ({int(pen.inside.sum())} vertices inside)")
    dvf = float(closed_volume(fist, model.faces_closed)[0]) - vol_rest
    print(f"  fist: volume change {dvf * 1e6:+.2f} cm^3 ({100 * dvf / vol_rest:+.2f} %)")
    pinch, gap = pinch_pose(model, anatomy, rom)
    tiles = [render(model, fist, v) for v in ("radial", "dorsal", "palmar")]
    save_png(hstack_images(tiles, gap=4), args.out / f"{args.label}_fist.png")
    tiles = [render(model, pinch, v) for v in ("radial", "dorsal", "palmar")]
    save_png(hstack_images(tiles, gap=4), args.out / f"{args.label}_pinch.png")
    print(f"  pinch: thumb tip to index tip {gap * 1000:.1f} mm")


if __name__ == "__main__":
    main()
