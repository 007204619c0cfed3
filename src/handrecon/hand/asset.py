"""Hand model assets: the arrays a linear-blend-skinned hand model is made of, and where they come from.

Two sources share one type: the bundled open `openhand` asset (built from CC0 MakeHuman data by
tools/build_hand_model.py) and user-supplied MANO files (see `mano_io`). A left hand is always derived
in code: the mirror image of a right asset (openhand), or MANO's own MANO_LEFT.pkl.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path

import numpy as np

OPENHAND_FILE = "openhand_right.npz"
OPENHAND_ENV = "HANDRECON_OPENHAND_ASSET"  # path of a right-hand asset used in place of the bundled one
MIRROR = np.diag([-1.0, 1.0, 1.0])


@dataclass(frozen=True)
class HandAsset:
    """Arrays of a MANO-compatible hand model (numpy, float64 / int64).

    `faces` is the open surface (wrist opening left open, as MANO's mesh); `cap_faces` close it.
    `faces_uv` indexes `uv` per face corner for `faces` followed by `cap_faces`.
    """

    name: str
    side: str  # "right" | "left"
    v_template: np.ndarray  # (V, 3)
    faces: np.ndarray  # (F, 3)
    weights: np.ndarray  # (V, 16)
    j_regressor: np.ndarray  # (16, V)
    shapedirs: np.ndarray  # (V, 3, S)
    parents: np.ndarray  # (16,)
    tip_vertex_ids: np.ndarray  # (5,) thumb, index, middle, ring, pinky
    cap_faces: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), dtype=np.int64))
    uv: np.ndarray | None = None  # (T, 2)
    faces_uv: np.ndarray | None = None  # (F + C, 3)
    posedirs: np.ndarray | None = None  # (V, 3, 135) pose correctives (MANO only)
    pose_components: np.ndarray | None = None  # (45, 45) PCA basis of hand_pose (MANO only)
    pose_mean: np.ndarray | None = None  # (45,) mean hand_pose (MANO only)
    # (16, V) where datasets label the 16 non-tip keypoints, when that differs from the skinning joints
    # (`j_regressor`: the centres of rotation the skeleton bends about). None: keypoints = joints (MANO).
    # Keypoint k rides rigidly on the bone of joint k (see HandModel.forward).
    kp_regressor: np.ndarray | None = None
    metadata: dict = field(default_factory=dict)

    @property
    def num_vertices(self) -> int:
        return int(self.v_template.shape[0])

    @property
    def faces_closed(self) -> np.ndarray:
        """Watertight triangle list: the open surface plus the wrist cap."""
        return np.concatenate([self.faces, self.cap_faces], 0)

    def validate(self) -> HandAsset:
        """Check shapes and index ranges; raise ValueError naming the offending array."""
        V = self.num_vertices
        checks = [
            (self.v_template.ndim == 2 and self.v_template.shape[1] == 3, "v_template must be (V, 3)"),
            (self.faces.ndim == 2 and self.faces.shape[1] == 3, "faces must be (F, 3)"),
            (self.faces.min() >= 0 and self.faces.max() < V, "faces index outside the vertices"),
            (self.weights.shape == (V, 16), f"weights must be ({V}, 16), got {self.weights.shape}"),
            (self.j_regressor.shape == (16, V), f"j_regressor must be (16, {V}), got {self.j_regressor.shape}"),
            (self.shapedirs.shape[:2] == (V, 3), f"shapedirs must be ({V}, 3, S), got {self.shapedirs.shape}"),
            (self.parents.shape == (16,) and self.parents[0] < 0, "parents must be (16,) with root first"),
            (
                self.tip_vertex_ids.shape == (5,) and self.tip_vertex_ids.max() < V,
                "tip_vertex_ids must be 5 vertex ids",
            ),
            (self.posedirs is None or self.posedirs.shape == (V, 3, 135), "posedirs must be (V, 3, 135)"),
            (
                self.kp_regressor is None or self.kp_regressor.shape == (16, V),
                f"kp_regressor must be (16, {V})",
            ),
        ]
        for ok, msg in checks:
            if not ok:
                raise ValueError(f"hand asset '{self.name}': {msg}")
        return self


def _npz_str(z: np.lib.npyio.NpzFile, key: str) -> str | None:
    return str(z[key]) if key in z.files else None


def load_asset_npz(path: str | Path, name: str | None = None, side: str | None = None) -> HandAsset:
    """Load an asset written by `save_asset_npz` or by tools/build_hand_model.py."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: hand model file not found")
    with np.load(path, allow_pickle=False) as z:
        meta = {}
        for key in ("provenance", "hand_length_stats", "metadata"):
            s = _npz_str(z, key)
            if s is not None:
                meta[key] = json.loads(s)
        if "licence" in z.files:
            meta["licence"] = str(z["licence"])
        extra = {k: z[k].astype(np.float64) for k in ("val_betas", "val_joints") if k in z.files}
        meta.update({k: v for k, v in extra.items()})
        parents = z["kintree_parents"] if "kintree_parents" in z.files else z["parents"]

        def opt(key: str, dtype=np.float64):
            return z[key].astype(dtype) if key in z.files else None

        asset = HandAsset(
            name=name or meta.get("metadata", {}).get("name") or meta.get("provenance", {}).get("name", path.stem),
            side=side or meta.get("metadata", {}).get("side", "right"),
            v_template=z["v_template"].astype(np.float64),
            faces=z["faces"].astype(np.int64),
            weights=z["weights"].astype(np.float64),
            j_regressor=z["j_regressor"].astype(np.float64),
            shapedirs=z["shapedirs"].astype(np.float64),
            parents=parents.astype(np.int64),
            tip_vertex_ids=z["tip_vertex_ids"].astype(np.int64),
            cap_faces=z["cap_faces"].astype(np.int64) if "cap_faces" in z.files else np.zeros((0, 3), np.int64),
            uv=opt("uv"),
            faces_uv=opt("faces_uv", np.int64),
            posedirs=opt("posedirs"),
            pose_components=opt("pose_components"),
            pose_mean=opt("pose_mean"),
            kp_regressor=opt("kp_regressor"),
            metadata=meta,
        )
    return asset.validate()


def save_asset_npz(asset: HandAsset, path: str | Path) -> None:
    """Write an asset to a compressed npz (no pickles), e.g. to convert a MANO pkl once."""
    arrays = {
        "v_template": asset.v_template,
        "faces": asset.faces,
        "weights": asset.weights,
        "j_regressor": asset.j_regressor,
        "shapedirs": asset.shapedirs,
        "parents": asset.parents,
        "tip_vertex_ids": asset.tip_vertex_ids,
        "cap_faces": asset.cap_faces,
        "metadata": np.asarray(json.dumps({"name": asset.name, "side": asset.side})),
    }
    for key in ("uv", "faces_uv", "posedirs", "pose_components", "pose_mean", "kp_regressor"):
        if getattr(asset, key) is not None:
            arrays[key] = getattr(asset, key)
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    tmp.replace(path)


def mirror_asset(asset: HandAsset) -> HandAsset:
    """The mirror image (x -> -x) of an asset: a right hand becomes a left hand and vice versa.

    Faces are re-wound so normals still point outwards; per-corner UVs follow the faces.
    """
    flip = [0, 2, 1]
    shapedirs = asset.shapedirs.copy()
    shapedirs[:, 0, :] *= -1
    posedirs = None
    if asset.posedirs is not None:
        posedirs = asset.posedirs.copy()
        posedirs[:, 0, :] *= -1
    return replace(
        asset,
        side="left" if asset.side == "right" else "right",
        v_template=asset.v_template @ MIRROR,
        faces=asset.faces[:, flip],
        cap_faces=asset.cap_faces[:, flip],
        faces_uv=None if asset.faces_uv is None else asset.faces_uv[:, flip],
        shapedirs=shapedirs,
        posedirs=posedirs,
    )


def load_openhand(side: str = "right") -> HandAsset:
    """The bundled open hand model; the left hand is the mirrored right hand.

    The environment variable HANDRECON_OPENHAND_ASSET may name another right-hand asset file (e.g. one
    rebuilt by tools/build_hand_model.py), so that benchmarks and tools can measure it in place of the
    bundled one without code changes.
    """
    if side not in ("right", "left"):
        raise ValueError(f"side must be 'right' or 'left', got {side!r}")
    override = os.environ.get(OPENHAND_ENV)
    if override:
        right = load_asset_npz(Path(override).expanduser(), name="openhand", side="right")
        return right if side == "right" else mirror_asset(right)
    with resources.as_file(resources.files("handrecon.assets") / OPENHAND_FILE) as p:
        right = load_asset_npz(p, name="openhand", side="right")
    return right if side == "right" else mirror_asset(right)
