"""A lean joints-only forward pass of a `HandModel` for the fit, and its exact Jacobian.

The fit evaluates the model's 21 keypoints hundreds of times per photo; `HandModel.forward` is general
(meshes, PCA poses, joint orders, input checks) and costs ~360 small tensor operations per call. Here the
same keypoints come from ~40 operations on constants prepared once per model, and the derivatives of the
keypoints with respect to every fit parameter come from the rigid chain in closed form:

- every output point is a skinned point P = sum_j w_j (M_j (v - J_j) + G_t_j) + t with M_j = G_R_j S_j
  (world rotation times the segment's stretch): a keypoint is one with weight 1 on its joint and v its rest
  position (the joint itself, or the separate keypoint riding on the bone), a fingertip a mesh vertex;
- a rotation about world axis w at joint j moves P by w x sum_{j' below j} w_j' (contrib_j' - G_t_j);
  the axes are G_R_parent A (omega) for the anatomical XYZ Euler angles (omega: the frame's x axis,
  R_x(bend) y, R_x(bend) R_y(splay) z) and the left Jacobian of the exponential map for the global
  axis-angle;
- shape coefficients, log segment scales and (MANO) pose blend shapes change rest quantities only: their
  tangents (rest joints, rest points, the stretches S_j through the segment axes u_j) are pushed through
  the chain in one pass.

Only models with MANO's 16-joint tree are supported (`supports`); others keep finite differences.

It computes in NumPy (float64): on these tiny arrays the cost is the per-operation overhead, about a third
of torch's on CPU, and the fit's Levenberg-Marquardt needs no autograd. Inputs and outputs are arrays;
`HandModel.forward` stays the differentiable reference (the tests compare the two).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch

from handrecon.hand.anatomy import Anatomy
from handrecon.hand.keypoints import MANO21_NAMES, convert_keypoints
from handrecon.hand.lbs import FINGER_CHAINS_PARENTS
from handrecon.hand.model import _SEGMENT_END_INDEX

NUM_JOINTS = 16


@dataclass
class ChainState:
    """Everything the forward computed for rows (N, ...) that the Jacobian reuses."""

    points: np.ndarray  # (N, n, 3) keypoints (output order), then any vertices; camera frame, translation in
    R_local: np.ndarray  # (N, 15, 3, 3) local rotations of the finger joints
    G_R: np.ndarray  # (N, 16, 3, 3) world rotations
    G_t: np.ndarray  # (N, 16, 3) world joint positions (no translation)
    S: np.ndarray  # (N, 16, 3, 3) segment stretches
    M: np.ndarray  # (N, 16, 3, 3) G_R S
    u: np.ndarray  # (N, 16, 3) segment axes at rest
    e_norm: np.ndarray  # (N, 16, 1) rest segment lengths (to the axis end)
    scales: np.ndarray  # (N, 16)
    J: np.ndarray  # (N, 16, 3) shaped rest joints
    V: np.ndarray  # (N, 21, 3) shaped rest positions of the output points
    rel: np.ndarray  # (N, 16, 3) rest joint minus rest parent (0 at the root)
    contrib: np.ndarray  # (N, 21, m, 3) each point's position as skinned by each of its joints


class JointChain:
    """Keypoints of one `HandModel` (float64) as a function of the fit's parameter blocks."""

    def __init__(
        self, model, anatomy: Anatomy, joint_order: str = "openpose", vertex_ids: torch.Tensor | None = None
    ) -> None:
        """`vertex_ids` (k,), optional: mesh vertices skinned after the 21 keypoints (points 21..21+k), for
        residuals on a few vertices (the fit's penetration rounds)."""
        if not self.supports(model):
            raise ValueError(f"the lean forward needs MANO's 16-joint tree, got parents {model.parents}")
        f64 = torch.float64
        self.anatomy = anatomy
        S = model.num_betas
        tips = model.tip_vertex_ids
        V = model.num_vertices
        # rest rows: the 16 skinning joints, then the output points (21 keypoints in the output order and the
        # vertices asked for)
        mano_src = torch.arange(21)
        order = convert_keypoints(mano_src[:, None], "mano", joint_order)[:, 0] if joint_order != "mano" else mano_src
        kp_t = model.kp_template if model.separate_keypoints else model.j_template
        kp_d = model.kp_shapedirs if model.separate_keypoints else model.j_shapedirs
        sd = model.shapedirs.view(V, 3, -1)
        pts_t = torch.cat([kp_t, model.v_template[tips]]).to(f64)  # (21, 3) MANO-21
        pts_d = torch.cat([kp_d.view(16, 3, -1), sd[tips]]).to(f64)  # (21, 3, S)
        vids = torch.zeros(0, dtype=torch.long) if vertex_ids is None else torch.as_tensor(vertex_ids).long()
        self.num_points = 21 + len(vids)
        self.num_rows = 16 + self.num_points
        self.template = torch.cat([model.j_template, pts_t[order], model.v_template[vids]]).to(f64)  # (rows, 3)
        self.shapedirs = torch.cat([model.j_shapedirs.view(16, 3, -1), pts_d[order], sd[vids]]).to(f64)
        self.shapedirs_flat = self.shapedirs[..., :S].reshape(self.num_rows * 3, S).T.contiguous()  # (S, 3 rows)
        # weights of the output points on the 16 joints: one-hot for keypoints, the skinning weights for tips
        w = torch.cat([torch.eye(16, dtype=f64), model.lbs_weights[tips].to(f64)])  # (21, 16) MANO-21
        self.weights = torch.cat([w[order], model.lbs_weights[vids].to(f64)]).contiguous()
        pos = {int(m): k for k, m in enumerate(order)}  # MANO-21 index -> output row
        tip_rows = [16 + pos[16 + i] for i in range(5)]
        # the rest point ending each segment's axis: a joint (row < 16) or a fingertip's output row
        self.end_rows = torch.tensor([e if e < 16 else 16 + pos[e] for e in _SEGMENT_END_INDEX])
        self.parent = torch.tensor([max(p, 0) for p in model.parents])
        # pose blend shapes of the vertices (MANO): (135, 3 rows) into the rest rows, zero elsewhere
        self.posedirs = None
        if model.posedirs is not None:
            pd = torch.zeros(135, self.num_rows, 3, dtype=f64)
            pd[:, tip_rows] = model.posedirs.view(135, V, 3)[:, tips].to(f64)
            pd[:, 37:] = model.posedirs.view(135, V, 3)[:, vids].to(f64)
            self.posedirs = pd.reshape(135, -1)
        # subtree and ancestor tables: below[j, j'] = 1 if j' is j or below it
        below = torch.zeros(16, 16, dtype=f64)
        for j in range(16):
            k = j
            while k >= 0:
                below[k, j] = 1.0
                k = model.parents[k]
        self.below = below
        self.ancestors = below.T.contiguous()  # ancestors[j, a] = 1 if a is j or above it
        child = torch.zeros(16, 16, dtype=torch.long)
        for k in range(16):
            c = k
            while model.parents[c] >= 0:
                child[k, model.parents[c]] = c
                c = model.parents[c]
        self.child = child
        self._set_point_tables(self.weights, below, child)
        self.eye = torch.eye(3, dtype=f64)
        self.eye16 = torch.eye(16, dtype=f64)
        # A [w]_x A^T = det(A) [A w]_x: a left hand's frames are mirror images (det -1)
        self.frames = anatomy.A.detach().to(f64) * torch.linalg.det(anatomy.A.detach().to(f64))[:, None, None]
        self.frame_map = anatomy._frame_map(f64)  # (15, 9, 9): vec(E) -> vec(local rotation), see Anatomy
        for name, value in list(vars(self).items()):
            if isinstance(value, torch.Tensor):
                setattr(self, name, value.detach().cpu().numpy())
        self.frames_T = np.ascontiguousarray(self.frames.transpose(0, 2, 1))
        self.parent_of_fingers = self.parent[1:]

    def _set_point_tables(self, weights: torch.Tensor, below: torch.Tensor, child: torch.Tensor) -> None:
        """The tables of the output points' joints from their weights (rows, 16) on the joints: the joints each
        point is skinned to (one for keypoints, a few for a mesh vertex), padded with zero weights (the
        derivatives only ever need those), and their weights below / through / at each segment."""
        f64 = torch.float64
        m = int((weights > 0).sum(1).max())
        w_sorted, j_sorted = weights.sort(dim=1, descending=True)
        self.point_joints = j_sorted[:, :m].contiguous()  # (rows, m)
        self.point_weights = w_sorted[:, :m].contiguous()  # (rows, m)
        # weight of each point's joint i below pivot j: (rows, 16 pivots, m)
        self.weights_below = self.point_weights[:, None, :] * below.T[self.point_joints].transpose(1, 2)
        self.weights_below_sum = self.weights_below.sum(-1)  # (rows, 16)
        # for a point's joint k below segment j: the child of j on the path to k (k itself when j is its
        # parent; `child`), and the point's weight on k where j lies strictly above k / is k
        strict = below.T - torch.eye(16, dtype=f64)  # strict[k, j] = 1 if j is strictly above k
        self.child_on_path = child[self.point_joints]  # (rows, m, 16)
        self.through_weight = strict[self.point_joints] * self.point_weights[..., None]  # (rows, m, 16)
        self.own_weight = torch.eye(16, dtype=f64)[self.point_joints] * self.point_weights[..., None]

    def with_vertices(self, model, vertex_ids: torch.Tensor) -> JointChain:
        """This chain (of `model`, keypoints only) with the mesh vertices `vertex_ids` skinned after the
        keypoints: the tables `JointChain(model, anatomy, vertex_ids=vertex_ids)` builds, equal to the bit,
        with everything that does not depend on the vertices taken from this chain (the penetration rounds
        of the fit ask for a new vertex set per round)."""
        if self.num_points != 21:
            raise ValueError(f"with_vertices extends a keypoints-only chain, this one has {self.num_points} points")
        f64 = torch.float64
        V, S = model.num_vertices, model.num_betas
        vids = torch.as_tensor(vertex_ids).long()
        new = copy.copy(self)  # the vertex-independent tables are shared, never written
        new.num_points = 21 + len(vids)
        new.num_rows = 16 + new.num_points
        new.template = np.concatenate([self.template, model.v_template.detach()[vids].to(f64).numpy()])
        sd = model.shapedirs.detach().view(V, 3, -1)[vids].to(f64)
        new.shapedirs = np.concatenate([self.shapedirs, sd.numpy()])
        new.shapedirs_flat = np.ascontiguousarray(new.shapedirs[..., :S].reshape(new.num_rows * 3, S).T)
        weights = torch.cat([torch.from_numpy(self.weights), model.lbs_weights.detach()[vids].to(f64)]).contiguous()
        new.weights = weights.numpy()
        if self.posedirs is not None:
            vertex_pd = model.posedirs.detach().view(135, V, 3)[:, vids].to(f64).reshape(135, -1).numpy()
            new.posedirs = np.concatenate([self.posedirs, vertex_pd], 1)
        new._set_point_tables(weights, torch.from_numpy(self.below), torch.from_numpy(self.child))
        for name in ("point_joints", "point_weights", "weights_below", "weights_below_sum", "child_on_path",
                     "through_weight", "own_weight"):  # fmt: skip
            setattr(new, name, getattr(new, name).numpy())
        return new

    @staticmethod
    def supports(model) -> bool:
        return tuple(model.parents) == FINGER_CHAINS_PARENTS and len(MANO21_NAMES) == 21

    # ------------------------------------------------------------------------------------------------
    def forward(
        self,
        global_orient: np.ndarray,
        angles: np.ndarray,
        betas: np.ndarray,
        transl: np.ndarray,
        log_scales: np.ndarray,
    ) -> ChainState:
        """Keypoints (N, 21, 3) and the chain's state, for rows of axis-angle (N, 3), anatomical angles
        (N, 15, 3), betas (N, S), translation (N, 3) and log segment scales (N, 16)."""
        N, S = global_orient.shape[0], betas.shape[1]
        R_local = self._euler_to_rotations(angles)
        rest = self.template.reshape(1, -1) + betas @ self.shapedirs_flat[:S]
        if self.posedirs is not None:
            rest = rest + (R_local - self.eye).reshape(N, 135) @ self.posedirs
        rest = rest.reshape(N, self.num_rows, 3)
        J, V = rest[:, :16], rest[:, 16:]
        e = rest[:, self.end_rows] - J
        e_norm = np.sqrt((e * e).sum(-1, keepdims=True))
        u = e / np.maximum(e_norm, 1e-12)
        scales = np.exp(log_scales)
        S_ = self.eye + (scales - 1)[..., None, None] * (u[..., :, None] * u[..., None, :])
        rel = J - J[:, self.parent]
        offsets = (S_[:, self.parent] @ rel[..., None])[..., 0]
        offsets[:, 0] = J[:, 0]
        G_R, G_t = _finger_chains(_rodrigues(global_orient), R_local, offsets)
        M = G_R @ S_
        # skinned points: sum_j w_pj (M_j (v_p - J_j) + G_t_j), over each point's own joints
        pj = self.point_joints
        arm = V[:, :, None] - J[:, pj]  # (N, 21, m, 3)
        contrib = (M[:, pj] @ arm[..., None])[..., 0] + G_t[:, pj]
        points = (contrib * self.point_weights[..., None]).sum(2) + transl[:, None]
        return ChainState(points, R_local, G_R, G_t, S_, M, u, e_norm, scales, J, V, rel, contrib)

    def _euler_to_rotations(self, angles: np.ndarray) -> np.ndarray:
        """`Anatomy.euler_to_rotations` (the XYZ Euler matrix, then the joint's frame map)."""
        N = angles.shape[0]
        c, s = np.cos(angles), np.sin(angles)
        ca, cb, cc = c[..., 0], c[..., 1], c[..., 2]
        sa, sb, sc = s[..., 0], s[..., 1], s[..., 2]
        sa_sb, ca_sb = sa * sb, ca * sb
        E = np.stack(
            [cb * cc, -cb * sc, sb, sa_sb * cc + ca * sc, ca * cc - sa_sb * sc, -sa * cb,
             sa * sc - ca_sb * cc, ca_sb * sc + sa * cc, ca * cb], -1
        )  # fmt: skip
        return (E.transpose(1, 0, 2) @ self.frame_map).transpose(1, 0, 2).reshape(N, 15, 3, 3)

    # ------------------------------------------------------------------------------------------------
    def jacobian(self, state: ChainState, global_orient: np.ndarray, angles: np.ndarray) -> np.ndarray:
        """d points / d parameters (N, 21, 3, P) at the state's rows, columns in `fit.layout` order:
        global orient (3), angles (45), betas (S), translation (3), log scales (16)."""
        N = state.points.shape[0]
        G_R, G_t = state.G_R, state.G_t
        # rotation axes in the world frame, one (3,) per joint and angle: (N, 16, 3 angles, 3)
        axes_root = _left_jacobian(global_orient).transpose(0, 2, 1)  # rows = axes
        a, b = angles[..., 0], angles[..., 1]
        ca, sa, cb, sb = np.cos(a), np.sin(a), np.cos(b), np.sin(b)
        one, zero = np.ones_like(a), np.zeros_like(a)
        local = np.stack([one, zero, zero, zero, ca, sa, sb, -sa * cb, ca * cb], -1).reshape(N, 15, 3, 3)
        axes_parent = local @ self.frames_T  # (N, 15, 3 angles, 3): rows A omega, parent frame
        axes = np.empty((N, 16, 3, 3))
        axes[:, 0] = axes_root
        axes[:, 1:] = axes_parent @ G_R[:, self.parent_of_fingers].transpose(0, 1, 3, 2)
        # lever arms: C[p, j] = sum_{j' below j} w_pj' (contrib_pj' - G_t_j)
        C = self.weights_below @ state.contrib - self.weights_below_sum[..., None] * G_t[:, None]
        # axis x lever, coordinate by coordinate (np.cross's own products), stacked as (N, 21, 3, 16 x 3 angles)
        ax, ay, az = (axes[:, None, :, :, k] for k in range(3))  # (N, 1, 16, 3 angles)
        cx, cy, cz = (C[:, :, :, None, k] for k in range(3))  # (N, 21, 16, 1)
        d_rot = np.stack([ay * cz - az * cy, az * cx - ax * cz, ax * cy - ay * cx], 2)  # (N, 21, 3, 16, 3)
        nb = self.shapedirs_flat.shape[0]
        P = 48 + nb + 3 + 16
        n = self.num_points
        out = np.empty((N, n, 3, P))
        out[..., :48] = d_rot.reshape(N, n, 3, 48)
        # rest tangents: betas and (MANO) the pose blend shapes of the fingertips
        tangents = np.broadcast_to(self.shapedirs.transpose(2, 0, 1)[None], (N, nb, self.num_rows, 3))
        if self.posedirs is not None:
            dR = _skew(axes_parent) @ state.R_local[:, :, None]  # (N, 15, 3, 3, 3): d R_j / d angle
            pd = self.posedirs.reshape(15, 9, -1)
            d_pose = np.einsum("njae,jer->njar", dR.reshape(N, 15, 3, 9), pd).reshape(N, 45, self.num_rows, 3)
            tangents = np.concatenate([tangents, d_pose], 1)
        d_rest = self._rest_tangents(state, tangents)  # (N, K, 21, 3)
        out[..., 48 : 48 + nb] = d_rest[:, :nb].transpose(0, 2, 3, 1)
        if self.posedirs is not None:
            out[..., 3:48] += d_rest[:, nb:].transpose(0, 2, 3, 1)
        out[..., 48 + nb : 51 + nb] = self.eye
        out[..., 51 + nb :] = self._scale_derivatives(state)
        return out

    def _rest_tangents(self, st: ChainState, d_rest: np.ndarray) -> np.ndarray:
        """d points (N, K, 21, 3) for K tangents of the rest rows d_rest (N, K, 37, 3), pushed through
        the segment axes, stretches, offsets and the chain."""
        dJ, dV = d_rest[:, :, :16], d_rest[:, :, 16:]
        u, s = st.u[:, None], st.scales[:, None, :, None]
        de = d_rest[:, :, self.end_rows] - dJ
        du = (de - u * (de * u).sum(-1, keepdims=True)) / st.e_norm[:, None]
        # dS x = (s - 1) (du (u . x) + u (du . x)): the stretch's tangent applied without forming it
        par = self.parent
        drel = dJ - dJ[:, :, par]
        d_off = _stretch_tangent(s[:, :, par], u[:, :, par], du[:, :, par], st.rel[:, None])
        d_off = d_off + (st.S[:, None, par] @ drel[..., None])[..., 0]
        q = (st.G_R[:, None, par] @ d_off[..., None])[..., 0]
        q[:, :, 0] = dJ[:, :, 0]  # the root's position is its rest joint
        dG_t = self.ancestors @ q  # (N, K, 16, 3): sum over each joint's ancestors and itself
        pj = self.point_joints  # (21, m)
        arm = (st.V[:, :, None] - st.J[:, pj])[:, None]  # (N, 1, 21, m, 3)
        d_local = _stretch_tangent(s[:, :, pj], u[:, :, pj], du[:, :, pj], arm)
        d_local = d_local + (st.S[:, None, pj] @ (dV[:, :, :, None] - dJ[:, :, pj])[..., None])[..., 0]
        d_contrib = (st.G_R[:, None, pj] @ d_local[..., None])[..., 0] + dG_t[:, :, pj]
        return (d_contrib * self.point_weights[..., None]).sum(-2)

    def _scale_derivatives(self, st: ChainState) -> np.ndarray:
        """d points / d log segment scales (N, 21, 3, 16). Scaling segment j by s_j stretches along its axis
        u_j: a point rides on it by s_j (u_j . lever) along G_R_j u_j, its lever being the rest offset of
        the next joint on its path below j, or its own rest offset from j when skinned to j."""
        pj = self.point_joints
        along = (st.u[:, self.parent] * st.rel).sum(-1)  # (N, 16): u_parent . rel_c
        own = (st.u[:, pj] * (st.V[:, :, None] - st.J[:, pj])).sum(-1)  # (N, 21, m)
        lever = (along[:, self.child_on_path] * self.through_weight).sum(2)
        lever = lever + (own[..., None] * self.own_weight).sum(2)  # (N, 21, 16)
        a = st.scales[..., None] * (st.G_R @ st.u[..., None])[..., 0]  # (N, 16, 3)
        return a.transpose(0, 2, 1)[:, None] * lever[:, :, None]


def _stretch_tangent(s: np.ndarray, u: np.ndarray, du: np.ndarray, x: np.ndarray) -> np.ndarray:
    """dS x for the stretch S = I + (s - 1) u u^T and a tangent du of its axis: (s - 1) (du (u.x) + u (du.x))."""
    return (s - 1) * (du * (u * x).sum(-1, keepdims=True) + u * (du * x).sum(-1, keepdims=True))


def _skew(v: np.ndarray) -> np.ndarray:
    """(..., 3) -> (..., 3, 3) cross-product matrix."""
    x, y, z = v[..., 0], v[..., 1], v[..., 2]
    o = np.zeros_like(x)
    return np.stack([o, -z, y, z, o, -x, -y, x, o], -1).reshape(*v.shape[:-1], 3, 3)


def _rodrigues(aa: np.ndarray) -> np.ndarray:
    """`geometry.rotations.axis_angle_to_matrix` for (N, 3)."""
    t2 = (aa * aa).sum(-1)[:, None, None]
    small = t2 < 1e-6
    t2s = np.where(small, 1.0, t2)
    t = np.sqrt(t2s)
    a = np.where(small, 1 - t2 / 6 + t2 * t2 / 120, np.sin(t) / t)
    b = np.where(small, 0.5 - t2 / 24 + t2 * t2 / 720, (1 - np.cos(t)) / t2s)
    eye = np.eye(3)
    return eye + a * _skew(aa) + b * (aa[:, :, None] * aa[:, None, :] - t2 * eye)


def _finger_chains(R0: np.ndarray, R_local: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`hand.lbs.forward_kinematics` on MANO's tree: world rotations (N, 16, 3, 3) and positions (N, 16, 3)."""
    N = R0.shape[0]
    rf = R_local.reshape(N, 5, 3, 3, 3)
    of = offsets[:, 1:].reshape(N, 5, 3, 3)
    G_R_all = np.empty((N, 16, 3, 3))
    G_t_all = np.empty((N, 16, 3))
    G_R_all[:, 0], G_t_all[:, 0] = R0, offsets[:, 0]
    G_R, G_t = G_R_all[:, 1:].reshape(N, 5, 3, 3, 3), G_t_all[:, 1:].reshape(N, 5, 3, 3)  # (views: fingers)
    R, t = R0[:, None], offsets[:, None, 0]
    for k in range(3):
        t = t + (R @ of[:, :, k, :, None])[..., 0]
        R = R @ rf[:, :, k]
        G_R[:, :, k], G_t[:, :, k] = R, t
    return G_R_all, G_t_all


def _left_jacobian(aa: np.ndarray) -> np.ndarray:
    """(N, 3) axis-angle -> (N, 3, 3) left Jacobian of the exponential map: d Exp(a + e_k eps) / d eps
    = [J_l e_k]_x Exp(a)."""
    t2 = (aa * aa).sum(-1)[:, None, None]
    small = t2 < 1e-6
    t2s = np.where(small, 1.0, t2)
    t = np.sqrt(t2s)
    c1 = np.where(small, 0.5 - t2 / 24 + t2 * t2 / 720, (1 - np.cos(t)) / t2s)
    c2 = np.where(small, 1.0 / 6 - t2 / 120 + t2 * t2 / 5040, (t - np.sin(t)) / (t2s * t))
    K = _skew(aa)
    return np.eye(3) + c1 * K + c2 * (K @ K)


class MeshSkin:
    """The whole posed mesh of a `HandModel` (float64, NumPy) from a `JointChain`'s state: linear blend
    skinning with the chain's stretched world transforms, as `HandModel.forward` skins it. The fit's
    penetration test poses the mesh a few times per hand; this reuses the joints the chain already posed
    and costs a fraction of the model's tensor forward."""

    def __init__(self, model) -> None:
        f64 = torch.float64
        V, S = model.num_vertices, model.num_betas
        self.num_vertices = V
        self.template = model.v_template.detach().to(f64).cpu().numpy().reshape(1, V * 3)
        self.shapedirs = model.shapedirs.detach().to(f64).cpu().numpy().reshape(V * 3, -1)[:, :S].T.copy()
        pd = model.posedirs
        self.posedirs = None if pd is None else pd.detach().to(f64).cpu().numpy().reshape(135, V * 3)
        self.weights = model.lbs_weights.detach().to(f64).cpu().numpy()  # (V, 16)

    def vertices(self, state: ChainState, betas: np.ndarray, transl: np.ndarray) -> np.ndarray:
        """Posed vertices (N, V, 3), camera frame, at the chain state of rows with betas (N, S) and
        translation (N, 3)."""
        N = betas.shape[0]
        v = self.template + betas @ self.shapedirs[: betas.shape[1]]
        if self.posedirs is not None:
            v = v + (state.R_local - np.eye(3)).reshape(N, 135) @ self.posedirs
        v = v.reshape(N, self.num_vertices, 3)
        t_rel = state.G_t - (state.M @ state.J[..., None])[..., 0]  # joint j: x -> M_j (x - J_j) + G_t_j
        T = self.weights @ np.concatenate([state.M.reshape(N, 16, 9), t_rel], -1)  # (N, V, 12)
        return (T[..., :9].reshape(N, -1, 3, 3) @ v[..., None])[..., 0] + T[..., 9:] + transl[:, None]
