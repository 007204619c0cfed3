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
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from handrecon.geometry.rotations import axis_angle_to_matrix, skew
from handrecon.hand.anatomy import Anatomy
from handrecon.hand.keypoints import MANO21_NAMES, convert_keypoints
from handrecon.hand.lbs import FINGER_CHAINS_PARENTS, forward_kinematics, skin
from handrecon.hand.model import _SEGMENT_END_INDEX

NUM_JOINTS = 16


@dataclass
class ChainState:
    """Everything the forward computed for rows (N, ...) that the Jacobian reuses."""

    points: torch.Tensor  # (N, 21, 3) keypoints in the output order, camera frame (translation included)
    R_local: torch.Tensor  # (N, 15, 3, 3) local rotations of the finger joints
    G_R: torch.Tensor  # (N, 16, 3, 3) world rotations
    G_t: torch.Tensor  # (N, 16, 3) world joint positions (no translation)
    S: torch.Tensor  # (N, 16, 3, 3) segment stretches
    M: torch.Tensor  # (N, 16, 3, 3) G_R S
    u: torch.Tensor  # (N, 16, 3) segment axes at rest
    e_norm: torch.Tensor  # (N, 16, 1) rest segment lengths (to the axis end)
    scales: torch.Tensor  # (N, 16)
    J: torch.Tensor  # (N, 16, 3) shaped rest joints
    V: torch.Tensor  # (N, 21, 3) shaped rest positions of the output points
    rel: torch.Tensor  # (N, 16, 3) rest joint minus rest parent (0 at the root)


class JointChain:
    """Keypoints of one `HandModel` (float64) as a function of the fit's parameter blocks."""

    def __init__(self, model, anatomy: Anatomy, joint_order: str = "openpose") -> None:
        if not self.supports(model):
            raise ValueError(f"the lean forward needs MANO's 16-joint tree, got parents {model.parents}")
        f64 = torch.float64
        self.anatomy = anatomy
        S = model.num_betas
        tips = model.tip_vertex_ids
        V = model.num_vertices
        # 37 rest rows: the 16 skinning joints, then the 21 output points in the output order.
        mano_src = torch.arange(21)
        order = convert_keypoints(mano_src[:, None], "mano", joint_order)[:, 0] if joint_order != "mano" else mano_src
        kp_t = model.kp_template if model.separate_keypoints else model.j_template
        kp_d = model.kp_shapedirs if model.separate_keypoints else model.j_shapedirs
        sd = model.shapedirs.view(V, 3, -1)
        pts_t = torch.cat([kp_t, model.v_template[tips]]).to(f64)  # (21, 3) MANO-21
        pts_d = torch.cat([kp_d.view(16, 3, -1), sd[tips]]).to(f64)  # (21, 3, S)
        self.template = torch.cat([model.j_template.to(f64), pts_t[order]])  # (37, 3)
        self.shapedirs = torch.cat([model.j_shapedirs.view(16, 3, -1).to(f64), pts_d[order]])  # (37, 3, S)
        self.shapedirs_flat = self.shapedirs[..., :S].reshape(37 * 3, S).T.contiguous()  # (S, 111)
        # weights of the output points on the 16 joints: one-hot for keypoints, the skinning weights for tips
        w = torch.cat([torch.eye(16, dtype=f64), model.lbs_weights[tips].to(f64)])  # (21, 16) MANO-21
        self.weights = w[order].contiguous()
        pos = {int(m): k for k, m in enumerate(order)}  # MANO-21 index -> output row
        tip_rows = [16 + pos[16 + i] for i in range(5)]
        # the rest point ending each segment's axis: a joint (row < 16) or a fingertip's output row
        self.end_rows = torch.tensor([e if e < 16 else 16 + pos[e] for e in _SEGMENT_END_INDEX])
        self.parent = torch.tensor([max(p, 0) for p in model.parents])
        # pose blend shapes of the fingertips (MANO): (135, 111) into the rest rows, zero elsewhere
        self.posedirs = None
        if model.posedirs is not None:
            pd = torch.zeros(135, 37, 3, dtype=f64)
            pd[:, tip_rows] = model.posedirs.view(135, V, 3)[:, tips].to(f64)
            self.posedirs = pd.reshape(135, 111)
        # subtree and ancestor tables: below[j, j'] = 1 if j' is j or below it
        below = torch.zeros(16, 16, dtype=f64)
        for j in range(16):
            k = j
            while k >= 0:
                below[k, j] = 1.0
                k = model.parents[k]
        self.below = below
        # the joints each output point is skinned to (one for keypoints, a few for a MANO fingertip), padded
        # with zero weights: the derivatives only ever need those
        m = int((self.weights > 0).sum(1).max())
        w_sorted, j_sorted = self.weights.sort(dim=1, descending=True)
        self.point_joints = j_sorted[:, :m].contiguous()  # (21, m)
        self.point_weights = w_sorted[:, :m].contiguous()  # (21, m)
        # weight of each point's joint i below pivot j: (21, 16 pivots, m)
        self.weights_below = self.point_weights[:, None, :] * below.T[self.point_joints].transpose(1, 2)
        self.weights_below_sum = self.weights_below.sum(-1)  # (21, 16)
        # for a point's joint k below segment j: the child of j on the path to k (k itself when j is its
        # parent), and the point's weight on k where j lies strictly above k / is k
        child = torch.zeros(16, 16, dtype=torch.long)
        for k in range(16):
            c = k
            while model.parents[c] >= 0:
                child[k, model.parents[c]] = c
                c = model.parents[c]
        strict = below.T - torch.eye(16, dtype=f64)  # strict[k, j] = 1 if j is strictly above k
        self.child_on_path = child[self.point_joints]  # (21, m, 16)
        self.through_weight = strict[self.point_joints] * self.point_weights[..., None]  # (21, m, 16)
        self.own_weight = torch.eye(16, dtype=f64)[self.point_joints] * self.point_weights[..., None]
        self.eye = torch.eye(3, dtype=f64)
        self.eye16 = torch.eye(16, dtype=f64)
        # A [w]_x A^T = det(A) [A w]_x: a left hand's frames are mirror images (det -1)
        self.frames = anatomy.A.detach().to(f64) * torch.linalg.det(anatomy.A.detach().to(f64))[:, None, None]

    @staticmethod
    def supports(model) -> bool:
        return tuple(model.parents) == FINGER_CHAINS_PARENTS and len(MANO21_NAMES) == 21

    # ------------------------------------------------------------------------------------------------
    def forward(
        self,
        global_orient: torch.Tensor,
        angles: torch.Tensor,
        betas: torch.Tensor,
        transl: torch.Tensor,
        log_scales: torch.Tensor,
    ) -> ChainState:
        """Keypoints (N, 21, 3) and the chain's state, for rows of axis-angle (N, 3), anatomical angles
        (N, 15, 3), betas (N, S), translation (N, 3) and log segment scales (N, 16)."""
        N, S = global_orient.shape[0], betas.shape[1]
        R_local = self.anatomy.euler_to_rotations(angles)
        rot = torch.cat([axis_angle_to_matrix(global_orient)[:, None], R_local], 1)
        rest = torch.addmm(self.template.view(1, 111), betas, self.shapedirs_flat[:S])
        if self.posedirs is not None:
            rest = torch.addmm(rest, (R_local - self.eye).reshape(N, 135), self.posedirs)
        rest = rest.view(N, 37, 3)
        J, V = rest[:, :16], rest[:, 16:]
        e = rest[:, self.end_rows] - J
        e_norm = e.norm(dim=-1, keepdim=True)
        u = e / e_norm.clamp_min(1e-12)
        scales = log_scales.exp()
        S_ = self.eye + (scales - 1)[..., None, None] * (u[..., :, None] * u[..., None, :])
        rel = J - J[:, self.parent]
        offsets = (S_[:, self.parent] @ rel[..., None])[..., 0]
        offsets = torch.cat([J[:, :1], offsets[:, 1:]], 1)
        G_R, G_t = forward_kinematics(rot, J, FINGER_CHAINS_PARENTS, offsets=offsets)
        M = G_R @ S_
        points = skin(V, self.weights, M, G_t, J) + transl[:, None]
        return ChainState(points, R_local, G_R, G_t, S_, M, u, e_norm, scales, J, V, rel)

    # ------------------------------------------------------------------------------------------------
    def jacobian(
        self, state: ChainState, global_orient: torch.Tensor, angles: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """d points / d (global orient (N, 21, 3, 3), angles (N, 21, 3, 45), betas (N, 21, 3, S),
        translation (N, 21, 3, 3), log scales (N, 21, 3, 16)) at the state's rows."""
        N = state.points.shape[0]
        G_R, G_t = state.G_R, state.G_t
        # rotation axes in the world frame, one (3,) per joint and angle: (N, 16, 3 angles, 3)
        axes_root = _left_jacobian(global_orient).transpose(-1, -2)  # rows = axes
        a, b = angles[..., 0], angles[..., 1]
        ca, sa, cb, sb = a.cos(), a.sin(), b.cos(), b.sin()
        one, zero = torch.ones_like(a), torch.zeros_like(a)
        local = torch.stack([one, zero, zero, zero, ca, sa, sb, -sa * cb, ca * cb], -1).view(N, 15, 3, 3)
        axes_parent = local @ self.frames.transpose(-1, -2)  # (N, 15, 3 angles, 3): rows A omega, parent frame
        axes_world = axes_parent @ G_R[:, self.parent[1:]].transpose(-1, -2)
        axes = torch.cat([axes_root[:, None], axes_world], 1)  # (N, 16, 3, 3)
        # lever arms: C[p, j] = sum_{j' below j} w_pj' (contrib_pj' - G_t_j)
        pj = self.point_joints
        arm = state.V[:, :, None] - state.J[:, pj]  # (N, 21, m, 3)
        contrib = (state.M[:, pj] @ arm[..., None])[..., 0] + G_t[:, pj]
        C = self.weights_below @ contrib - self.weights_below_sum[..., None] * G_t[:, None]
        d_rot = torch.linalg.cross(axes[:, None], C[:, :, :, None].expand(-1, -1, -1, 3, -1))  # (N,21,16,3,3)
        d_rot = d_rot.permute(0, 1, 4, 2, 3).reshape(N, 21, 3, 48)
        d_orient, d_angles = d_rot[..., :3], d_rot[..., 3:]
        # rest tangents: betas and (MANO) the pose blend shapes of the fingertips
        tangents = [self.shapedirs.permute(2, 0, 1)[None].expand(N, -1, -1, -1)]  # (N, S, 37, 3)
        nb = tangents[0].shape[1]
        if self.posedirs is not None:
            dR = skew(axes_parent) @ state.R_local[:, :, None]  # (N, 15, 3, 3, 3): d R_j / d angle
            pd = self.posedirs.view(15, 9, 111)
            tangents.append(torch.einsum("njae,jer->njar", dR.reshape(N, 15, 3, 9), pd).reshape(N, 45, 37, 3))
        d_rest = self._rest_tangents(state, torch.cat(tangents, 1) if len(tangents) > 1 else tangents[0])
        d_betas = d_rest[:, :nb].permute(0, 2, 3, 1)
        if self.posedirs is not None:
            d_angles = d_angles + d_rest[:, nb:].permute(0, 2, 3, 1)
        d_scales = self._scale_derivatives(state)
        d_transl = self.eye.expand(N, 21, 3, 3)
        return d_orient, d_angles, d_betas, d_transl, d_scales

    def _rest_tangents(self, st: ChainState, d_rest: torch.Tensor) -> torch.Tensor:
        """d points (N, K, 21, 3) for K tangents of the rest rows d_rest (N, K, 37, 3), pushed through
        the segment axes, stretches, offsets and the chain."""
        dJ, dV = d_rest[:, :, :16], d_rest[:, :, 16:]
        u, s = st.u[:, None], st.scales[:, None, :, None, None]
        de = d_rest[:, :, self.end_rows] - dJ
        du = (de - u * (de[..., None, :] @ u[..., None])[..., 0]) / st.e_norm[:, None]
        du_u = du[..., :, None] * u[..., None, :]
        dS = (s - 1) * (du_u + du_u.transpose(-1, -2))  # (N, K, 16, 3, 3)
        par = self.parent
        drel = dJ - dJ[:, :, par]
        d_off = (dS[:, :, par] @ st.rel[:, None, :, :, None])[..., 0] + (st.S[:, None, par] @ drel[..., None])[..., 0]
        q = (st.G_R[:, None, par] @ d_off[..., None])[..., 0]
        q = torch.cat([dJ[:, :, :1], q[:, :, 1:]], 2)  # the root's position is its rest joint
        dG_t = torch.einsum("aj,nkjc->nkac", self.below.T, q)  # sum over each joint's ancestors and itself
        pj = self.point_joints  # (21, m)
        arm = st.V[:, :, None] - st.J[:, pj]  # (N, 21, m, 3)
        d_local = (dS[:, :, pj] @ arm[:, None, ..., None])[..., 0] + (
            st.S[:, None, pj] @ (dV[:, :, :, None] - dJ[:, :, pj])[..., None]
        )[..., 0]  # (N, K, 21, m, 3)
        d_contrib = (st.G_R[:, None, pj] @ d_local[..., None])[..., 0] + dG_t[:, :, pj]
        return (d_contrib * self.point_weights[..., None]).sum(-2)


    def _scale_derivatives(self, st: ChainState) -> torch.Tensor:
        """d points / d log segment scales (N, 21, 3, 16). Scaling segment j by s_j stretches along its axis
        u_j: a point rides on it by s_j (u_j . lever) along G_R_j u_j, its lever being the rest offset of
        the next joint on its path below j, or its own rest offset from j when skinned to j."""
        pj = self.point_joints
        along = (st.u[:, self.parent] * st.rel).sum(-1)  # (N, 16): u_parent . rel_c
        own = (st.u[:, pj] * (st.V[:, :, None] - st.J[:, pj])).sum(-1)  # (N, 21, m)
        lever = (along[:, self.child_on_path] * self.through_weight).sum(2)
        lever = lever + (own[..., None] * self.own_weight).sum(2)  # (N, 21, 16)
        a = st.scales[..., None] * (st.G_R @ st.u[..., None])[..., 0]  # (N, 16, 3)
        return a.transpose(1, 2)[:, None] * lever[:, :, None]


def _left_jacobian(aa: torch.Tensor) -> torch.Tensor:
    """(N, 3) axis-angle -> (N, 3, 3) left Jacobian of the exponential map: d Exp(a + e_k eps) / d eps
    = [J_l e_k]_x Exp(a)."""
    t2 = (aa * aa).sum(-1)[:, None, None]
    small = t2 < 1e-6
    t2s = torch.where(small, torch.ones_like(t2), t2)
    t = t2s.sqrt()
    c1 = torch.where(small, 0.5 - t2 / 24 + t2 * t2 / 720, (1 - t.cos()) / t2s)
    c2 = torch.where(small, 1.0 / 6 - t2 / 120 + t2 * t2 / 5040, (t - t.sin()) / (t2s * t))
    K = skew(aa)
    eye = torch.eye(3, dtype=aa.dtype, device=aa.device)
    return eye + c1 * K + c2 * (K @ K)
