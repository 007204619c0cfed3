"""Linear blend skinning and forward kinematics for a 16-joint hand tree (MANO's formulation).

Kept separate from the nn.Module so that fitting code and tests can call the maths directly.
"""

from __future__ import annotations

from functools import lru_cache

import torch


def tree_levels(parents: tuple[int, ...] | list[int]) -> list[list[int]]:
    """Joints grouped by depth in the kinematic tree (roots first): each level needs only the previous."""
    depth = [0] * len(parents)
    for j, p in enumerate(parents):
        depth[j] = 0 if p < 0 else depth[p] + 1
    return [[j for j in range(len(parents)) if depth[j] == d] for d in range(max(depth) + 1)]


@lru_cache(maxsize=8)
def _level_indices(parents: tuple[int, ...]) -> tuple[list[torch.Tensor], list[torch.Tensor], torch.Tensor]:
    """Per tree level: its joints, and their parents' positions within the previous level; and the
    permutation from level-major order back to joint order."""
    levels = tree_levels(parents)
    slot = {j: k for lvl in levels for k, j in enumerate(lvl)}
    joints = [torch.tensor(lvl) for lvl in levels]
    parent_slots = [torch.tensor([slot[parents[j]] for j in lvl] if d else []) for d, lvl in enumerate(levels)]
    order = torch.argsort(torch.cat(joints))
    return joints, parent_slots, order


@lru_cache(maxsize=8)
def _parent_tables(parents: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """Each joint's parent (a root's own index 0) and which joints are roots."""
    return torch.tensor([max(p, 0) for p in parents]), torch.tensor([p < 0 for p in parents])


def rest_offsets(joints: torch.Tensor, parents: list[int], stretch: torch.Tensor | None = None) -> torch.Tensor:
    """(B, J, 3) each joint's rest offset from its parent (a root's from the origin), optionally after
    stretching each parent's segment by S_p (B, J, 3, 3): J'_c - J'_p = S_p (J_c - J_p)."""
    par, is_root = _parent_tables(tuple(parents))
    par, is_root = par.to(joints.device), is_root.to(joints.device)
    rel = joints - joints[:, par]
    if stretch is not None:
        rel = (stretch[:, par] @ rel[..., None])[..., 0]
    return torch.where(is_root[:, None], joints, rel)


def forward_kinematics(
    rot: torch.Tensor,
    joints: torch.Tensor,
    parents: list[int],
    offsets: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """World rotations (B, J, 3, 3) and joint positions (B, J, 3) from local rotations and rest joints.

    `rot[:, j]` rotates the subtree below joint j about joint j, in its parent's frame (MANO convention,
    rest frames aligned with the model frame). One batched matmul per tree level; `offsets` (B, J, 3)
    replaces the rest offsets of `rest_offsets(joints, parents)` (e.g. stretched segments).
    """
    if offsets is None:
        offsets = rest_offsets(joints, parents)
    if tuple(parents) == FINGER_CHAINS_PARENTS:
        return _finger_chains_kinematics(rot, offsets)
    level_joints, parent_slots, order = _level_indices(tuple(parents))
    dev = rot.device
    Rs: list[torch.Tensor] = []
    ts: list[torch.Tensor] = []
    for d, idx in enumerate(level_joints):
        idx = idx.to(dev)
        if d == 0:
            R, t = rot[:, idx], offsets[:, idx]
        else:
            ps = parent_slots[d].to(dev)
            PR, Pt = Rs[-1][:, ps], ts[-1][:, ps]
            R = PR @ rot[:, idx]
            t = Pt + (PR @ offsets[:, idx, :, None])[..., 0]
        Rs.append(R)
        ts.append(t)
    order = order.to(dev)
    return torch.cat(Rs, 1)[:, order], torch.cat(ts, 1)[:, order]


# MANO's tree: the wrist, then five chains of three joints (joint 1 + 3 f + k is finger f's k-th joint).
FINGER_CHAINS_PARENTS = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 0, 10, 11, 0, 13, 14)


def _finger_chains_kinematics(rot: torch.Tensor, offsets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """`forward_kinematics` for MANO's tree: the five fingers' k-th joints in one product per level, with
    no gathering (the same products as the general path)."""
    B = rot.shape[0]
    R0, t0 = rot[:, :1], offsets[:, :1]  # (B, 1, 3, 3), (B, 1, 3)
    rf = rot[:, 1:].reshape(B, 5, 3, 3, 3)
    of = offsets[:, 1:].reshape(B, 5, 3, 3)
    R, t = R0, t0
    Rs, ts = [], []
    for k in range(3):
        t = t + (R @ of[:, :, k, :, None])[..., 0]
        R = R @ rf[:, :, k]
        Rs.append(R)
        ts.append(t)
    G_R = torch.cat([R0, torch.stack(Rs, 2).reshape(B, 15, 3, 3)], 1)
    G_t = torch.cat([t0, torch.stack(ts, 2).reshape(B, 15, 3)], 1)
    return G_R, G_t


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
