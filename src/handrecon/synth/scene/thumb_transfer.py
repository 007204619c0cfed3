"""The sampler's thumb angles on any open-hand rig: the same thumb, wherever the rig puts the CMC joint.

The thumb angles of `hand_shapes` and of the free articulations were written on the MakeHuman rig of the
bundled open hand model. Anatomical angles are read against each rig's own rest skeleton (see
`handrecon.hand.anatomy`), and the thumb CMC's frame follows where the rig puts that joint: the MakeHuman
rig's CMC lies about 35 mm distal of the wrist, an anatomical one at the trapezium (about 13 mm). The same
CMC angles then give another thumb: on the anatomical rig the pinches did not close (tip pinch 20 mm apart
against 5 mm) and the thumbs tucked into a fist stuck out.

Rule, on another rig of the same template mesh (`ThumbTransfer.for_model`):
1. a constant offset on the thumb CMC's (bend, splay, twist), the one that puts the thumb's skin closest
   to where the authoring rig puts it over every thumb configuration of the templates (least squares on
   the vertices skinned mostly to the thumb's three bones, the same mesh vertices on both rigs);
2. the pinches are defined by contact: in the closed form of each pinch template (`CONTACTS`) the thumb
   tip lies as far from the fingertips it meets as on the authoring rig (the fingers bend elsewhere on
   the other rig, so matching the thumb alone leaves the tips apart). The thumb's CMC angles and its MCP
   and IP flexion take the smallest change that does it; a grasp's correction fades with its size (its
   thumb opens as the object grows).
On the authoring rig nothing changes; on a model of another mesh (MANO) there is no common surface to
compare and nothing changes either.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from handrecon.geometry.rotations import matrix_to_axis_angle
from handrecon.hand.anatomy import Anatomy
from handrecon.hand.keypoints import MANO16_FINGER_JOINTS
from handrecon.hand.rom import range_of_motion
from handrecon.synth.scene.hand_shapes import GESTURES, GRASPS, HandShape

THUMB_ROWS = [j - 1 for j in MANO16_FINGER_JOINTS["thumb"]]  # hand_pose rows of the thumb CMC, MCP, IP
THUMB_CMC_ROW = THUMB_ROWS[0]
# Pinch templates: name -> (OpenPose indices of the fingertips whose mean the thumb tip meets, grasp?)
CONTACTS: dict[str, tuple[tuple[int, ...], bool]] = {
    "tip_pinch": ((8,), True),
    "tripod": ((8, 12), True),
    "ok": ((8,), False),
}
THUMB_TIP = 4  # OpenPose index
AUTHORING_SKELETON = "makehuman"  # the rig the templates were written on (the bundled asset's provenance)


def skeleton_kind(model) -> str:
    """'makehuman' (the bundled rig), 'anatomical' (tools/build_hand_model.py --skeleton anatomical), or the
    model's name for other models."""
    if model.name != "openhand":
        return model.name
    return model.asset.metadata.get("provenance", {}).get("skeleton", {}).get("kind", AUTHORING_SKELETON)


def template_thumbs_deg() -> np.ndarray:
    """(T, 15, 3) every template's angles (gestures; grasps at sizes 0, 0.5, 1), degrees, authoring rig."""
    shapes = list(GESTURES.values()) + [f(s) for f in GRASPS.values() for s in (0.0, 0.5, 1.0)]
    return np.stack([s.angles_deg() for s in shapes])


def _thumb_vertices(model, angles_deg: np.ndarray, offset_deg: np.ndarray) -> torch.Tensor:
    a = torch.as_tensor(np.radians(angles_deg), dtype=torch.float64).clone()
    a[:, THUMB_CMC_ROW] += torch.as_tensor(np.radians(offset_deg), dtype=torch.float64)
    anatomy = Anatomy.from_hand_model(model)
    out = model(hand_pose=matrix_to_axis_angle(anatomy.euler_to_rotations(a)))
    return out.vertices


def solve_thumb_offset(model, reference, iterations: int = 12) -> np.ndarray:
    """(3,) degrees added to the thumb CMC's (bend, splay, twist) on `model` so that its thumb matches the
    one of `reference` (the authoring rig) over the templates; both must share the template mesh."""
    angles = template_thumbs_deg()
    thumb_bones = list(MANO16_FINGER_JOINTS["thumb"])
    w = reference.lbs_weights.detach().cpu().double()
    ids = torch.nonzero(w[:, thumb_bones].sum(1) > 0.5)[:, 0]
    with torch.no_grad():
        target = _thumb_vertices(reference, angles, np.zeros(3))[:, ids].reshape(-1)
        x = np.zeros(3)
        for _ in range(iterations):  # Gauss-Newton with a forward-difference Jacobian (1e-3 degrees)
            r = _thumb_vertices(model, angles, x)[:, ids].reshape(-1) - target
            moved = [_thumb_vertices(model, angles, x + 1e-3 * e)[:, ids].reshape(-1) for e in np.eye(3)]
            J = torch.stack([(v - target - r) / 1e-3 for v in moved], 1)
            step = torch.linalg.lstsq(J, -r[:, None]).solution[:, 0].numpy()
            x = x + step
            if np.abs(step).max() < 1e-3:
                break
    return x


def _contact_shape(name: str) -> HandShape:
    return GRASPS[name](0.0) if CONTACTS[name][1] else GESTURES[name]


def _tip_gap(model, angles_deg: np.ndarray, targets: tuple[int, ...]) -> torch.Tensor:
    """(T,) metres from the thumb tip to the mean of the target fingertips, poses (T, 15, 3) in degrees
    projected into the ranges as the sampler does."""
    from handrecon.synth.scene.poses import project_to_ranges  # poses imports this module

    anatomy = Anatomy.from_hand_model(model)
    a = torch.as_tensor(np.radians(angles_deg), dtype=torch.float64)
    a = project_to_ranges(a, range_of_motion(torch.float64))
    j = model(hand_pose=matrix_to_axis_angle(anatomy.euler_to_rotations(a)), joint_order="openpose").joints
    return (j[:, THUMB_TIP] - j[:, list(targets)].mean(1)).norm(dim=-1)


def solve_contact(model, reference, name: str, offset_deg: np.ndarray, iterations: int = 20) -> np.ndarray:
    """(15, 3) degrees added to the closed form of pinch `name` on `model` (thumb rows only): the smallest
    change of the CMC angles and MCP/IP flexion (1 mm of gap weighs as much as 100 degrees) after which the
    thumb tip lies as far from its target fingertips as on `reference`."""
    targets = CONTACTS[name][0]
    base = _contact_shape(name).angles_deg()[None]
    with torch.no_grad():
        gap_ref = float(_tip_gap(reference, base, targets)[0])
        base = base.copy()
        base[0, THUMB_CMC_ROW] += offset_deg
        cols = [(THUMB_ROWS[0], 0), (THUMB_ROWS[0], 1), (THUMB_ROWS[0], 2), (THUMB_ROWS[1], 0), (THUMB_ROWS[2], 0)]
        units = np.eye(len(cols))

        def pose(x: np.ndarray) -> np.ndarray:
            out = np.repeat(base, len(x), 0)
            for k, (r, c) in enumerate(cols):
                out[:, r, c] += x[:, k]
            return out

        def cost(x: np.ndarray) -> float:
            g = float(_tip_gap(model, pose(x[None]), targets)[0]) * 1000
            return (g - gap_ref * 1000) ** 2 + float(((x / 100.0) ** 2).sum())

        x = np.zeros(len(cols))
        best = cost(x)
        for _ in range(iterations):  # Gauss-Newton on [gap error in mm, change / 100 degrees], step halving
            g = _tip_gap(model, pose(np.concatenate([x[None], x[None] + 1e-3 * units])), targets).numpy() * 1000
            r = np.concatenate([[g[0] - gap_ref * 1000], x / 100.0])
            J = np.concatenate([((g[1:] - g[0]) / 1e-3)[None], units / 100.0])
            step = np.linalg.lstsq(J, -r, rcond=None)[0]
            while np.abs(step).max() >= 1e-3 and cost(x + step) >= best:
                step = step / 2
            if np.abs(step).max() < 1e-3:
                break
            x = x + step
            best = cost(x)
    out = np.zeros((15, 3))
    for k, (r, c) in enumerate(cols):
        out[r, c] = x[k]
    return out


@dataclass(frozen=True)
class ThumbTransfer:
    """What the sampler adds to its templates' angles on one rig (degrees)."""

    cmc_offset: np.ndarray  # (3,) thumb CMC (bend, splay, twist)
    contacts: dict  # pinch name -> (15, 3) change of its closed form (thumb rows only)

    @property
    def is_identity(self) -> bool:
        return not np.any(self.cmc_offset) and not self.contacts

    def apply(self, angles_deg: np.ndarray, name: str, size: float | None) -> np.ndarray:
        """(15, 3) template angles of category `name` (grasp `size`, None for gestures and free poses)."""
        if self.is_identity:
            return angles_deg
        out = angles_deg.copy()
        out[THUMB_CMC_ROW] += self.cmc_offset
        if name in self.contacts:
            out += self.contacts[name] * (1.0 - size if size is not None else 1.0)
        return out

    @classmethod
    def identity(cls) -> ThumbTransfer:
        return cls(np.zeros(3), {})

    @classmethod
    def for_model(cls, model) -> ThumbTransfer:
        """The transfer onto `model` (identity on the authoring rig and on models of another mesh)."""
        if model.name != "openhand" or skeleton_kind(model) == AUTHORING_SKELETON:
            return cls.identity()
        key = (model.side, model.asset.v_template.tobytes(), model.asset.j_regressor.tobytes())
        if key not in _CACHE:
            reference = _authoring_rig(model.side)
            if reference is None or reference.num_vertices != model.num_vertices:
                _CACHE[key] = cls.identity()
            else:
                m = model if model.device.type == "cpu" and model.dtype == torch.float64 else _cpu_double(model)
                offset = np.round(solve_thumb_offset(m, reference), 2)
                contacts = {n: np.round(solve_contact(m, reference, n, offset), 2) for n in CONTACTS}
                _CACHE[key] = cls(offset, contacts)
        return _CACHE[key]


_CACHE: dict = {}


def _cpu_double(model):
    from handrecon.hand.model import HandModel

    return HandModel(asset=model.asset, dtype=torch.float64)


def _authoring_rig(side: str):
    """The bundled asset as packaged (whatever HANDRECON_OPENHAND_ASSET says), if it is the authoring rig."""
    from importlib import resources

    from handrecon.hand.asset import OPENHAND_FILE, load_asset_npz, mirror_asset
    from handrecon.hand.model import HandModel

    with resources.as_file(resources.files("handrecon.assets") / OPENHAND_FILE) as p:
        right = load_asset_npz(p, name="openhand", side="right")
    asset = right if side == "right" else mirror_asset(right)
    if asset.metadata.get("provenance", {}).get("skeleton", {}).get("kind", AUTHORING_SKELETON) != AUTHORING_SKELETON:
        return None
    return HandModel(asset=asset, dtype=torch.float64)
