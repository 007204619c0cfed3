"""Linear blend skinning and forward kinematics for a 16-joint hand tree (MANO's formulation).

Kept separate from the nn.Module so that fitting code and tests can call the maths directly.
"""

from __future__ import annotations

import torch


def kinematic_levels(parents: list[int]) -> list[list[int]]:
    """Joints grouped by depth in the tree, so forward kinematics runs one batched matmul per level."""
    depth = [0] * len(parents)
    for j, p in enumerate(parents):
        depth[j] = 0 if p < 0 else depth[p] + 1
    return [[j for j in range(len(parents)) if depth[j] == d] for d in range(max(depth) + 1)]


def forward_kinematics(
    rot: torch.Tensor, joints: torch.Tensor, parents: list[int], levels: list[list[int]]
) -> tuple[torch.Tensor, torch.Tensor]:
    """World rotations (B, J, 3, 3) and joint positions (B, J, 3) from local rotations and rest joints.

    `rot[:, j]` rotates the subtree below joint j about joint j, in its parent's frame (MANO convention,
    rest frames aligned with the model frame).
    """
    B, J = rot.shape[:2]
    par = torch.as_tensor([max(p, 0) for p in parents], device=joints.device)
    rel = joints - joints[:, par]
    rel[:, levels[0]] = joints[:, levels[0]]
    G_R = [None] * J
    G_t = [None] * J
    for j in levels[0]:
        G_R[j], G_t[j] = rot[:, j], rel[:, j]
    for lvl in levels[1:]:
        idx = torch.as_tensor(lvl, device=joints.device)
        pidx = [parents[j] for j in lvl]
        PR = torch.stack([G_R[p] for p in pidx], 1)  # (B, n, 3, 3)
        Pt = torch.stack([G_t[p] for p in pidx], 1)
        R = PR @ rot[:, idx]
        t = Pt + (PR @ rel[:, idx, :, None])[..., 0]
        for k, j in enumerate(lvl):
            G_R[j], G_t[j] = R[:, k], t[:, k]
    return torch.stack(G_R, 1), torch.stack(G_t, 1)


def stretched_joints(joints: torch.Tensor, stretch: torch.Tensor, parents: list[int]) -> torch.Tensor:
    """Rest joints after stretching each segment: J'_c = J'_p + S_p (J_c - J_p), parents first."""
    out = [None] * joints.shape[1]
    for j, p in enumerate(parents):
        out[j] = joints[:, j] if p < 0 else out[p] + (stretch[:, p] @ (joints[:, j] - joints[:, p])[..., None])[..., 0]
    return torch.stack(out, 1)


def skin(
    v_shaped: torch.Tensor,
    weights: torch.Tensor,
    G_R: torch.Tensor,
    G_t: torch.Tensor,
    rest_joints: torch.Tensor,
) -> torch.Tensor:
    """Blend per-joint rigid transforms (relative to the rest pose) over the vertices: (B, V, 3)."""
    # Transform of joint j relative to rest: x -> G_R (x - J_rest) + G_t.
    t_rel = G_t - (G_R @ rest_joints[..., None])[..., 0]
    A = torch.cat([G_R.flatten(-2), t_rel], -1)  # (B, J, 12)
    T = torch.matmul(weights, A)  # (B, V, 12)
    R = T[..., :9].unflatten(-1, (3, 3))
    return (R @ v_shaped[..., None])[..., 0] + T[..., 9:]


def transforms_matrix(G_R: torch.Tensor, G_t: torch.Tensor) -> torch.Tensor:
    """(B, J, 3, 3) and (B, J, 3) -> homogeneous (B, J, 4, 4)."""
    top = torch.cat([G_R, G_t[..., None]], -1)
    bottom = torch.zeros_like(top[..., :1, :])
    bottom[..., 0, 3] = 1
    return torch.cat([top, bottom], -2)
