"""Anatomical skeleton for the openhand asset: joint centres at the hand's centres of rotation, placed with
segment proportions from the anthropometric literature, and skinning weights computed for that skeleton.

Used by tools/build_hand_model.py (and by itself only for inspection); nothing here runs at handrecon run time.

Joint placement (rest template, canonical frame of the builder). For every finger a centreline is traced
through the mesh: the centroids of thin slices of the finger's vertices (and, inside the palm, of the palm's
vertices along the finger's ray, the full palm thickness but only a narrow band sideways) perpendicular to a
guide polyline (MakeHuman's own joints). Walking back from the fingertip along that centreline, the joints
are put at the distances the literature gives as fractions of the hand length, so each joint lies at the
centre of the cross-section of the finger (or of the palm, for the MCPs) at its anatomical level. The hand
length is the middle finger's centreline length from the wrist joint centre to the fingertip, which is the
quantity the proportions below are normalised by (they sum to 1.001 along the middle ray).

Each joint is then written into the keypoint regressor as a convex combination of the vertices of its slice
(reproducing the point exactly on the template), so under shape changes it stays the centre of the same
cross-section.

Sources of the constants:
- BAG92: Buchholz, Armstrong & Goldstein, "Anthropometric data for describing the kinematics of the human
  hand", Ergonomics 35(3):261-273, 1992 - segment lengths (joint centre to joint centre; the distal segment
  to the fingertip) as fractions of hand length (wrist crease to middle fingertip); the finger CMC joints
  0.073 hand lengths distal of the wrist. Their proximal phalanx coefficients follow
- AN79: An, Chao, Cooney & Linscheid, "Normative model of human hand for biomechanical analysis",
  J. Biomech. 12:775-788, 1979 - proximal/middle phalanx length ratios (index 1.85, middle 1.63, ring 1.57,
  little 1.76), from which BAG92's proximal coefficients are derived (e.g. middle 0.170 x 1.63 = 0.277).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.optimize import nnls
from scipy.sparse.linalg import splu

# MANO-16 joints of each finger's chain (proximal to distal) and the finger's index in tip_vertex_ids.
CHAINS = {"index": (1, 2, 3), "middle": (4, 5, 6), "pinky": (7, 8, 9), "ring": (10, 11, 12), "thumb": (13, 14, 15)}
TIP_INDEX = {"thumb": 0, "index": 1, "middle": 2, "ring": 3, "pinky": 4}
PARENTS = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 0, 10, 11, 0, 13, 14)

# BAG92 segment lengths / hand length. Fingers: metacarpal (CMC to MCP), proximal (MCP-PIP), middle
# (PIP-DIP), distal (DIP to fingertip). Thumb: metacarpal (CMC-MCP), proximal (MCP-IP), distal (IP to tip).
SEGMENT_RATIO = {
    "thumb": (0.251, 0.196, 0.158),
    "index": (0.374, 0.265, 0.143, 0.097),
    "middle": (0.373, 0.277, 0.170, 0.108),
    "ring": (0.336, 0.259, 0.165, 0.107),
    "pinky": (0.295, 0.206, 0.117, 0.093),
}
CMC_OFFSET_RATIO = 0.073  # BAG92: finger CMC joints this far (fraction of hand length) distal of the wrist
# BAG92: the thumb CMC joint 0.073 hand lengths distal of the wrist and 0.196 hand breadths radial of the
# middle ray (hand breadth: across the metacarpal heads); its depth here: the middle of the hand's thickness.
THUMB_CMC_RATIO = (0.073, 0.196)
# Finger MCPs: at BAG92's level from the wrist (0.073 + metacarpal along the ray) when True, else at the
# proximal phalanx's length from the PIP. (PIP and DIP are always placed from the fingertip.)
MCP_FROM_WRIST = True

SLICE_HALF_WIDTH = 1.5e-3  # m; slices of the mesh along a centreline
CENTRELINE_STEP = 1.0e-3  # m


def vertex_groups(weights: np.ndarray) -> np.ndarray:
    """Per vertex: 0 palm, else 1 + finger index in CHAINS order, from the dominant joint of `weights` (V, 16)."""
    dom = weights.argmax(1)
    group = np.zeros(len(weights), dtype=np.int64)
    for k, chain in enumerate(CHAINS.values()):
        group[np.isin(dom, chain)] = k + 1
    return group


def _project_on_polyline(points: np.ndarray, poly: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Arc parameter s, distance d and unit tangent of the closest point of `poly` for each point."""
    seg = poly[1:] - poly[:-1]
    seglen = np.linalg.norm(seg, axis=1)
    cum = np.concatenate([[0.0], np.cumsum(seglen)])
    rel = points[:, None, :] - poly[None, :-1, :]
    t = np.clip((rel * seg[None]).sum(-1) / seglen[None] ** 2, 0.0, 1.0)
    closest = poly[None, :-1] + t[..., None] * seg[None]
    d = np.linalg.norm(points[:, None] - closest, axis=-1)
    k = d.argmin(1)
    i = np.arange(len(points))
    return cum[k] + t[i, k] * seglen[k], d[i, k], seg[k] / seglen[k, None]


def _arc(poly: np.ndarray) -> np.ndarray:
    return np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(poly, axis=0), axis=1))])


def trace_centreline(v, faces, ids_finger, guide, palm_end, normal) -> np.ndarray:
    """Centreline (K, 3) of one ray, from inside the palm to the guide's last point (the fingertip).

    Along the finger: centroids of thin slices of the finger's vertices perpendicular to the guide. Inside
    the palm, whose vertices are too sparse to slice: the straight line from the finger's first centroid
    back to `palm_end`, each point moved to the middle of the palm's thickness along `normal`.
    """
    s, _, _ = _project_on_polyline(v[ids_finger], guide)
    total = _arc(guide)[-1]
    pts = []
    for sk in np.arange(0.0, total, CENTRELINE_STEP):
        m = np.abs(s - sk) < SLICE_HALF_WIDTH
        if m.sum() >= 8:
            pts.append(v[ids_finger[m]].mean(0))
    pts.append(guide[-1])  # the fingertip vertex closes the line
    finger = _smooth(np.asarray(pts))
    n = max(int(np.linalg.norm(finger[0] - palm_end) / CENTRELINE_STEP), 2)
    palm = palm_end + np.linspace(0.0, 1.0, n, endpoint=False)[:, None] * (finger[0] - palm_end)
    palm = mid_thickness(v, faces, palm, normal)
    return np.concatenate([_smooth(palm), finger])


def ray_hits(v: np.ndarray, faces: np.ndarray, origin: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """Distances t > 0 along the ray at which it crosses the triangles (Moller-Trumbore, all faces at once)."""
    a, b, c = v[faces[:, 0]], v[faces[:, 1]], v[faces[:, 2]]
    e1, e2 = b - a, c - a
    p = np.cross(direction, e2)
    det = (e1 * p).sum(1)
    ok = np.abs(det) > 1e-14
    inv = np.where(ok, 1.0 / np.where(ok, det, 1.0), 0.0)
    tv = origin - a
    u = (tv * p).sum(1) * inv
    q = np.cross(tv, e1)
    w = (q @ direction) * inv
    t = (e2 * q).sum(1) * inv
    hit = ok & (u >= 0) & (w >= 0) & (u + w <= 1) & (t > 0)
    return t[hit]


def mid_thickness(v: np.ndarray, faces: np.ndarray, points: np.ndarray, normal: np.ndarray) -> np.ndarray:
    """Each point moved along `normal` to the midpoint of the nearest surface crossings on either side."""
    out = points.copy()
    for i, p in enumerate(points):
        up, down = ray_hits(v, faces, p, normal), ray_hits(v, faces, p, -normal)
        if len(up) and len(down):
            out[i] = p + 0.5 * (up.min() - down.min()) * normal
    return out


def _smooth(line: np.ndarray, passes: int = 3) -> np.ndarray:
    out = line.copy()
    for _ in range(passes):
        out[1:-1] = 0.25 * out[:-2] + 0.5 * out[1:-1] + 0.25 * out[2:]
    return out


def point_at_level(line: np.ndarray, origin: np.ndarray, axis: np.ndarray, level: float, before: float) -> np.ndarray:
    """Walking from arc position `before` towards the start of `line`, the first point whose coordinate
    along `axis` from `origin` is `level`."""
    arc = _arc(line)
    grid = np.linspace(before, 0.0, int(before / 2e-4) + 2)
    pts = np.stack([np.interp(grid, arc, line[:, c]) for c in range(3)], 1)
    r = (pts - origin) @ axis - level
    k = int(np.argmax(r <= 0)) if (r <= 0).any() else len(r) - 1
    if k == 0:
        return pts[0]
    f = r[k - 1] / (r[k - 1] - r[k])
    return pts[k - 1] + f * (pts[k] - pts[k - 1])


def point_at_distance(line: np.ndarray, origin: np.ndarray, dist: float, before: float) -> tuple[np.ndarray, float]:
    """Walking from arc position `before` towards the start of `line`, the first point at straight-line
    distance `dist` from `origin`, and its arc position (segment lengths are joint-to-joint distances,
    as in BAG92). The line's first segment is extended past its start if needed."""
    arc = _arc(line)
    ext = np.concatenate([[line[0] - 0.05 * (line[1] - line[0]) / np.linalg.norm(line[1] - line[0])], line])
    ext_arc = np.concatenate([[-0.05], arc])
    grid = np.linspace(before, -0.05, int((before + 0.05) / 2e-4) + 2)
    pts = np.stack([np.interp(grid, ext_arc, ext[:, c]) for c in range(3)], 1)
    r = np.linalg.norm(pts - origin, axis=1) - dist
    k = int(np.argmax(r >= 0)) if (r >= 0).any() else len(r) - 1
    if k == 0:
        return pts[0], float(grid[0])
    f = -r[k - 1] / (r[k] - r[k - 1])
    return pts[k - 1] + f * (pts[k] - pts[k - 1]), float(grid[k - 1] + f * (grid[k] - grid[k - 1]))


def convex_weights(v_slab: np.ndarray, target: np.ndarray, lam: float = 1e4) -> np.ndarray:
    """Non-negative weights summing to one whose combination of `v_slab` (n, 3) is `target`, near uniform."""
    n = len(v_slab)
    A = np.vstack([np.sqrt(lam) * v_slab.T * 100.0, np.full((1, n), np.sqrt(lam)), np.eye(n)])
    b = np.concatenate([np.sqrt(lam) * target * 100.0, [np.sqrt(lam)], np.full(n, 1.0 / n)])
    w, _ = nnls(A, b, maxiter=50 * n)
    return w / w.sum()


def anatomical_skeleton(
    v: np.ndarray, faces: np.ndarray, old_weights: np.ndarray, old_joints: np.ndarray, tip_ids: np.ndarray
):
    """Joint centres (16, 3), hand length and breadth, the centrelines and the vertex regions (palm / finger).

    v (V, 3) rest template with the wrist joint centre at the origin; faces (F, 3) its closed surface;
    old_weights (V, 16) the source rig's weights (only to tell finger from palm vertices); old_joints (16, 3)
    the source rig's joints (only as the guide the centrelines are traced along); tip_ids (5,) fingertips.
    """
    group = vertex_groups(old_weights)
    wrist = old_joints[0]
    normal = np.cross(old_joints[1] - wrist, old_joints[7] - wrist)  # palmar normal (right hand)
    normal /= np.linalg.norm(normal)
    lines, joints = {}, np.zeros((16, 3))
    hand_length = middle_ray_length(v, old_joints, tip_ids)
    breadth = hand_breadth(v, group, old_joints, normal)
    radial = old_joints[1] - old_joints[7]
    distal = old_joints[4] - wrist
    distal /= np.linalg.norm(distal)
    radial -= (radial @ distal) * distal
    radial /= np.linalg.norm(radial)
    cmc = wrist + THUMB_CMC_RATIO[0] * hand_length * distal + THUMB_CMC_RATIO[1] * breadth * radial
    cmc = mid_thickness(v, faces, cmc[None], normal)[0]
    for k, (finger, chain) in enumerate(CHAINS.items()):
        tip = v[tip_ids[TIP_INDEX[finger]]]
        fids = np.nonzero(group == k + 1)[0]
        if finger == "thumb":  # the centreline runs down to the CMC joint located as BAG92 locate it
            guide = np.stack([cmc, *old_joints[list(chain)], tip])
            palm_end = cmc
        else:
            guide = np.stack([wrist, *old_joints[list(chain)], tip])
            # towards the wrist along the source rig's wrist-to-knuckle line (the metacarpals converge on
            # the carpus; continuing the finger's own axis would follow the rest pose's finger spread instead)
            palm_end = wrist + 0.3 * (old_joints[chain[0]] - wrist)
        lines[finger] = trace_centreline(v, faces, fids, guide, palm_end, normal)
    joints[0] = wrist
    joints[13] = cmc
    for finger, chain in CHAINS.items():
        line = lines[finger]
        prev, s_prev = line[-1], _arc(line)[-1]
        for j, ratio in zip(chain[::-1], SEGMENT_RATIO[finger][::-1], strict=False):
            if finger == "thumb" and j == 13:
                break  # the thumb's CMC is located directly (THUMB_CMC_RATIO)
            if MCP_FROM_WRIST and finger != "thumb" and j == chain[0]:
                # BAG92's layout: the MCP (0.073 + metacarpal) hand lengths distal of the wrist along the ray
                level = (CMC_OFFSET_RATIO + SEGMENT_RATIO[finger][0]) * hand_length
                joints[j] = point_at_level(line, wrist, distal, level, s_prev)
                break
            joints[j], s_prev = point_at_distance(line, prev, ratio * hand_length, s_prev)
            prev = joints[j]
    # The interphalangeal joints are hinges with parallel axes (a finger flexes in one plane): PIP and DIP
    # are moved (1-2 mm) into the plane through the MCP and the fingertip that contains the palm normal,
    # so the hinge axes read off the rest skeleton (handrecon.hand.anatomy) are that plane's normal.
    # The thumb's MCP and IP hinge in the plane through its CMC and fingertip that is closest to the plane
    # the source rig's thumb flexes in (the short, nearly straight rest chain cannot define that plane
    # itself): the metacarpal then lies in the hinges' plane too, so the rest pose has no sideways
    # deviation at the thumb's MCP and IP, which are hinges.
    for finger, chain in CHAINS.items():
        tip = v[tip_ids[TIP_INDEX[finger]]]
        if finger == "thumb":
            b = np.cross(old_joints[15] - old_joints[14], tip - old_joints[15])
            u = (tip - joints[chain[0]]) / np.linalg.norm(tip - joints[chain[0]])
            b -= (b @ u) * u
            b /= np.linalg.norm(b)
            for j in chain[1:]:
                joints[j] -= ((joints[j] - tip) @ b) * b
            flex_at_least(joints, chain[2], joints[chain[1]], tip, THUMB_IP_REST_MIN_DEG)
            continue
        b = np.cross(tip - joints[chain[0]], normal)
        b /= np.linalg.norm(b)
        for j in chain[1:]:
            joints[j] -= ((joints[j] - joints[chain[0]]) @ b) * b
        unhyperextend(joints, list(chain), tip, normal)
    return joints, hand_length, breadth, lines, group


# The thumb IP's rest flexion at least this (degrees): a relaxed thumb's IP is slightly flexed, and from
# 5 degrees on (handrecon.hand.anatomy.HINGE_PLANE_MIN_DEG) the hinge's axis is read off its own two bones,
# i.e. the thumb's hinge plane; below, the palm-based guess is used, off that plane by a few degrees.
THUMB_IP_REST_MIN_DEG = 6.0


def flex_at_least(joints: np.ndarray, j: int, prev: np.ndarray, nxt: np.ndarray, min_deg: float) -> None:
    """Move joint j (in place) away from the line prev-nxt, on the side it already bends to and in the
    plane they span, until the chain prev-j-nxt bends by `min_deg` at j (no move when it bends more)."""
    u = (nxt - prev) / np.linalg.norm(nxt - prev)
    foot = prev + ((joints[j] - prev) @ u) * u
    off = joints[j] - foot
    a, c = np.linalg.norm(foot - prev), np.linalg.norm(nxt - foot)

    def bend(h: float) -> float:
        return np.degrees(np.arctan2(h, a) + np.arctan2(h, c))

    h = np.linalg.norm(off)
    if h < 1e-9 or bend(h) >= min_deg:
        return
    lo, hi = h, a + c
    for _ in range(60):  # bisection: bend(h) increases with h
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if bend(mid) < min_deg else (lo, mid)
    joints[j] = foot + off / h * hi


def unhyperextend(joints: np.ndarray, chain: list[int], tip: np.ndarray, palmar: np.ndarray, sweeps: int = 10) -> None:
    """Move a finger's PIP and DIP (in place, within the finger's flexion plane) so that neither is
    hyperextended at rest.

    The rest template is a relaxed hand, whose interphalangeal joints are slightly flexed or straight,
    never hyperextended (their range of motion starts at 0, ASSH); but the centreline can run palmar of the
    line from the neighbouring joint to the fingertip vertex (which sits dorsally, at the nail's end), which
    would read as hyperextension. Such a joint is moved onto that line (about 1 mm): the smallest change
    that makes the rest pose a valid pose. Repeated, since moving one joint changes its neighbour's bend.
    """
    pts = [*chain, None]  # MCP, PIP, DIP, then the fingertip
    for _ in range(sweeps):
        moved = False
        for k in (2, 1):  # DIP, then PIP
            j = pts[k]
            prev = joints[pts[k - 1]]
            nxt = tip if pts[k + 1] is None else joints[pts[k + 1]]
            u = (nxt - prev) / np.linalg.norm(nxt - prev)
            foot = prev + ((joints[j] - prev) @ u) * u
            if (joints[j] - foot) @ palmar > 1e-7:  # palmar of the line: the chain bends dorsally here
                joints[j] = foot
                moved = True
        if not moved:
            return


# ----------------------------------------------------------------------------------------------------
# Keypoints: where datasets label the joints, which is not always where the hand bends. Annotators mark a
# joint where they see it on the skin; a model's keypoint regressor should put it there, while the skinning
# joints stay at the centres of rotation. Surface anatomy (BB93: Bugbee & Botte, "Surface anatomy of the
# hand: the relationships between palmar skin creases and osseous anatomy", Clin. Orthop. Relat. Res.
# 296:122-126, 1993, radiographs of 53 hands) puts the interphalangeal creases within a few millimetres of
# their joints (and the dorsal knuckles of PIP/DIP/IP lie over them), so those keypoints are the joint
# centres; but the finger's base, where it visibly leaves the palm (proximal digital crease, the level of
# the webs), lies 14 to 20 mm distal of the MCP joint, whose head is hidden in the palm. The MCP keypoint is
# therefore put on the finger's centreline MCP_KEYPOINT_OFFSET distal of the MCP joint centre (BB93's
# midpoint), the convention of MANO-fitted labels too (MANO's MCP joints sit at the finger roots). The
# thumb's MCP crease lies over its joint (BB93): that keypoint stays at the joint. The thumb's CMC lies deep
# under the thenar muscles with no surface landmark documented for it; where the literature gives no rule,
# the keypoint stays where the source rig (and so the bundled asset, whose keypoints are its joints) had it
# when THUMB_CMC_KEYPOINT_FROM_SOURCE, else at the joint centre.
MCP_KEYPOINT_OFFSET = 0.017  # m, BB93: proximal digital creases 14-20 mm distal of the MCP joints
THUMB_CMC_KEYPOINT_FROM_SOURCE = True


def keypoint_positions(joints: np.ndarray, lines: dict[str, np.ndarray], source_joints: np.ndarray) -> np.ndarray:
    """(16, 3) rest keypoints: the joint centres, except each finger's MCP keypoint, moved along the finger's
    centreline MCP_KEYPOINT_OFFSET (straight-line distance) distal of the MCP joint centre, and the thumb
    CMC's (see THUMB_CMC_KEYPOINT_FROM_SOURCE; `source_joints` (16, 3) the source rig's joints)."""
    kp = joints.copy()
    if THUMB_CMC_KEYPOINT_FROM_SOURCE:
        kp[CHAINS["thumb"][0]] = source_joints[CHAINS["thumb"][0]]
    for finger, chain in CHAINS.items():
        if finger == "thumb":
            continue
        line, mcp = lines[finger], joints[chain[0]]
        arc = _arc(line)
        s0, _, _ = _project_on_polyline(mcp[None], line)
        grid = np.linspace(s0[0], arc[-1], int((arc[-1] - s0[0]) / 2e-4) + 2)
        pts = np.stack([np.interp(grid, arc, line[:, c]) for c in range(3)], 1)
        r = np.linalg.norm(pts - mcp, axis=1) - MCP_KEYPOINT_OFFSET
        k = int(np.argmax(r >= 0))
        f = -r[k - 1] / (r[k] - r[k - 1])
        kp[chain[0]] = pts[k - 1] + f * (pts[k] - pts[k - 1])
    return kp


def middle_ray_length(v: np.ndarray, old_joints: np.ndarray, tip_ids: np.ndarray) -> float:
    """Hand length: the middle ray's length from the wrist joint centre through the source rig's knuckles
    to the fingertip, i.e. the flat-hand length (wrist to middle fingertip) that the rest pose's slight
    flexion hides. BAG92's coefficients along the middle ray sum to 1.001 of it."""
    pts = [old_joints[0], *old_joints[list(CHAINS["middle"])], v[tip_ids[TIP_INDEX["middle"]]]]
    return float(sum(np.linalg.norm(pts[i + 1] - pts[i]) for i in range(4)))


def hand_breadth(v: np.ndarray, group: np.ndarray, old_joints: np.ndarray, normal: np.ndarray) -> float:
    """Hand breadth at the metacarpal heads: the palm's width (thumb excluded) across the finger MCPs."""
    distal = old_joints[4] - old_joints[0]
    distal /= np.linalg.norm(distal)
    across = np.cross(distal, normal)
    level = np.mean([old_joints[j] @ distal for j in (1, 4, 7, 10)]) - 0.01  # just proximal of the webs
    band = (np.abs(v @ distal - level) < 4e-3) & (group != 5)
    x = v[band] @ across
    return float(x.max() - x.min())


def joint_regressor_rows(v: np.ndarray, joints: np.ndarray, group: np.ndarray) -> np.ndarray:
    """(16, V) convex rows reproducing `joints` 1..15 on the template (row 0 left empty).

    Each joint is a near-uniform convex combination of the vertices of its ray (finger and palm) in a ball
    around it, the ball grown until it holds the joint well inside (at least 16 vertices on all sides).
    """
    R = np.zeros((16, len(v)))
    for k, chain in enumerate(CHAINS.values()):
        region = np.nonzero((group == k + 1) | (group == 0))[0]
        for j in chain:
            d = np.linalg.norm(v[region] - joints[j], axis=1)
            radius = 6e-3
            while True:
                ids = region[d < radius]
                if len(ids) >= 16:
                    w = convex_weights(v[ids], joints[j])
                    if np.linalg.norm(w @ v[ids] - joints[j]) < 5e-5:
                        break
                radius += 1e-3
                if radius > 0.03:
                    raise RuntimeError(f"joint {j}: no ball of vertices around it reproduces its centre")
            R[j, ids] = w
    return R


# ----------------------------------------------------------------------------------------------------
# Skinning weights: bone heat (Baran & Popovic, "Automatic rigging and animation of 3D characters",
# SIGGRAPH 2007): per bone i, solve (-L + M H) w_i = M H p_i on the surface, where L is the cotangent
# Laplacian, M the Voronoi mass matrix, p_i marks the vertices whose nearest bone is i and H = 1 / d^2 the
# heat each vertex receives from its nearest bone at distance d. Smooth, partition of unity, and each bone's
# weight falls off across its joint; "visibility" of a bone is decided by the vertex's region (a finger's
# vertices see only that finger's bones and the palm, the palm sees the palm and the first bone of each ray).


def bone_segments(joints: np.ndarray, tips: np.ndarray) -> list[list[tuple[np.ndarray, np.ndarray]]]:
    """Per MANO joint, the line segments of the bone it moves (palm: wrist to each finger MCP and thumb CMC)."""
    segs: list[list[tuple[np.ndarray, np.ndarray]]] = [[] for _ in range(16)]
    for mcp in (1, 4, 7, 10, 13):
        segs[0].append((joints[0], joints[mcp]))
    for finger, chain in CHAINS.items():
        ends = [*chain[1:], None]
        for j, e in zip(chain, ends, strict=True):
            segs[j].append((joints[j], joints[e] if e is not None else tips[TIP_INDEX[finger]]))
    return segs


def _segment_distance(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ab = b - a
    t = np.clip(((p - a) @ ab) / (ab @ ab), 0.0, 1.0)
    return np.linalg.norm(p - (a + t[:, None] * ab), axis=1)


def bone_heat_weights(
    v: np.ndarray, faces: np.ndarray, joints: np.ndarray, tips: np.ndarray, group: np.ndarray,
    sharpness: float = 2.0, min_weight: float = 0.01, max_influences: int = 4,
) -> np.ndarray:  # fmt: skip
    """(V, 16) skinning weights by bone heat, raised to `sharpness` and renormalised (narrower blends across
    each joint: the closed mesh's volume change under full flexion of the four fingers' joints one at a time,
    summed, is -54 cm^3 with the plain heat weights, -25 cm^3 squared, against -38 cm^3 with MakeHuman's
    own weights), then pruned to `max_influences` per vertex above `min_weight`."""
    import igl

    segs = bone_segments(joints, tips)
    dist = np.stack([np.min([_segment_distance(v, a, b) for a, b in segs[j]], 0) for j in range(16)], 1)
    visible = np.zeros((len(v), 16), dtype=bool)
    visible[:, 0] = True
    for k, chain in enumerate(CHAINS.values()):
        visible[np.ix_(group == k + 1, chain)] = True
        visible[group == 0, chain[0]] = True
    d = np.where(visible, dist, np.inf)
    nearest = d.argmin(1)
    dmin = np.maximum(d[np.arange(len(v)), nearest], 1e-4)
    L = igl.cotmatrix(v, faces)
    M = igl.massmatrix(v, faces, igl.MASSMATRIX_TYPE_VORONOI)
    H = sp.diags(1.0 / dmin**2)
    A = (-L + M @ H).tocsc()
    lu = splu(A)
    P = np.zeros((len(v), 16))
    P[np.arange(len(v)), nearest] = 1.0
    W = lu.solve(np.asarray(M @ H @ P))
    W = np.clip(W, 0.0, None) ** sharpness
    W /= W.sum(1, keepdims=True)
    # prune: at most `max_influences` bones per vertex, none below `min_weight`
    order = np.argsort(-W, 1)
    keep = np.zeros_like(W, dtype=bool)
    np.put_along_axis(keep, order[:, :max_influences], True, 1)
    W = np.where(keep & (min_weight <= W), W, 0.0)
    return W / W.sum(1, keepdims=True)


def provenance(
    v: np.ndarray, joints: np.ndarray, tip_ids: np.ndarray, hand_length: float, breadth: float, distal: np.ndarray
) -> dict:
    """What the asset records about its skeleton: sources, constants and the template's own proportions
    (`distal`: the ray direction the MCP levels were measured along, the source rig's wrist-to-middle-MCP)."""
    distal = distal / np.linalg.norm(distal)
    measured = {}
    for finger, chain in CHAINS.items():
        pts = [joints[0], *joints[list(chain)], v[tip_ids[TIP_INDEX[finger]]]]
        seg = [float(np.linalg.norm(pts[i + 1] - pts[i]) / hand_length) for i in range(4)]
        if finger == "thumb":  # CMC-MCP, MCP-IP, IP-tip (and the CMC's place)
            measured[finger] = {"segments": [round(x, 4) for x in seg[1:]]}
        else:  # wrist-MCP along the middle ray (BAG92: 0.073 + metacarpal), then the three phalanges
            along = float((pts[1] - pts[0]) @ distal / hand_length)
            measured[finger] = {"wrist_to_mcp_along_ray": round(along, 4), "segments": [round(x, 4) for x in seg[1:]]}
    return {
        "kind": "anatomical",
        "builder": "tools/hand_skeleton.py",
        "sources": {
            "BAG92": "Buchholz, Armstrong & Goldstein, Anthropometric data for describing the kinematics of the "
            "human hand, Ergonomics 35(3):261-273, 1992",
            "AN79": "An, Chao, Cooney & Linscheid, Normative model of human hand for biomechanical analysis, "
            "J. Biomech. 12:775-788, 1979",
            "BP07": "Baran & Popovic, Automatic rigging and animation of 3D characters, SIGGRAPH 2007 (bone heat)",
        },
        "segment_ratio_BAG92": SEGMENT_RATIO,
        "finger_cmc_offset_ratio_BAG92": CMC_OFFSET_RATIO,
        "thumb_cmc_ratio_BAG92": THUMB_CMC_RATIO,
        "hand_length_mm": round(hand_length * 1000, 2),
        "hand_breadth_mm": round(breadth * 1000, 2),
        "template_ratios": measured,
        "placement": "finger joints on the finger's centreline (slice centroids) at the BAG92 distances from the "
        "fingertip; inside the palm at mid-thickness; thumb CMC at BAG92's location at mid-thickness; PIP/DIP "
        "moved into the finger's flexion plane, and onto the line to the next point where they would read as "
        "hyperextended at rest; thumb MCP/IP into the plane through the CMC and the tip closest to the source "
        f"rig's thumb flexion plane, thumb IP flexed at least {THUMB_IP_REST_MIN_DEG:g} deg at rest",
        "weights": "bone heat (BP07), squared and renormalised, at most 4 influences of at least 0.01",
    }


def keypoint_provenance(joints: np.ndarray, keypoints: np.ndarray) -> dict:
    """What the asset records about its keypoints (kp_regressor) and how far they sit from the joints."""
    offsets = {
        finger: [round(float(np.linalg.norm(keypoints[j] - joints[j]) * 1000), 2) for j in chain]
        for finger, chain in CHAINS.items()
    }
    return {
        "kind": "surface",
        "source": "BB93: Bugbee & Botte, Surface anatomy of the hand: the relationships between palmar skin "
        "creases and osseous anatomy, Clin. Orthop. Relat. Res. 296:122-126, 1993",
        "rule": "keypoints at the joint centres, except finger MCPs: on the finger's centreline "
        f"{MCP_KEYPOINT_OFFSET * 1000:.0f} mm distal of the MCP joint centre (proximal digital crease, BB93: "
        "14-20 mm); each keypoint rides on the bone of its joint",
        "thumb_cmc_keypoint": "the source rig's (no surface landmark documented)"
        if THUMB_CMC_KEYPOINT_FROM_SOURCE
        else "the joint centre",
        "keypoint_offset_from_joint_mm": offsets,
    }
