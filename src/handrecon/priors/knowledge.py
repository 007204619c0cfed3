"""Knowledge-encoded prior and uncertainty-aware data term of the knowledge-prior method (weakly supervised
hand reconstruction with an anatomical "knowledge prior" and per-joint uncertainty).

The overall training loss of that method (eq. 8) is L = L_prior + L_data with the prior of eq. 5,

    L_prior = lambda1 * L_pose + lambda2 * L_non-penetration + lambda3 * L_shape,

and the data term of eq. 7 (a per-joint Gaussian NLL of the 2D landmarks). This module holds the data term,
its MSE special case and the shape regulariser, and is the home of the pose-limit and functional-anatomy
losses (section "Anatomical pose prior" below). The non-penetration loss lives with the winding-number
prior in `handrecon.priors.penetration`.
"""

from __future__ import annotations

import functools
import weakref
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch

from handrecon.priors.reduction import Reduction, check_same_shape, expand_weight, reduce_batch


@dataclass
class KnowledgePriorWeights:
    """Loss weights of eq. 5 (sec. 4.1 of the knowledge-prior paper): L_prior = pose * L_pose
    + non_penetration * L_non-penetration + shape * L_shape."""

    pose: float = 20000.0
    non_penetration: float = 20000.0
    shape: float = 10.0


def _check_keypoints(mean: torch.Tensor, target: torch.Tensor) -> None:
    check_same_shape(mean=mean, target=target)
    if target.dim() != 3:
        raise ValueError(f"expected keypoints of shape (B, J, D), got {tuple(target.shape)}")


def nll_data_term(
    mean: torch.Tensor,
    target: torch.Tensor,
    var: torch.Tensor,
    valid: torch.Tensor | None = None,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """Eq. 7: sum_i [ log sigma_i + ||p_i - mu_i||^2 / (2 sigma_i^2) ], one variance sigma_i^2 per joint.

    mean: projected model joints mu (B, J, 2); target: labelled 2D landmarks p (B, J, 2); var: predicted
    per-joint variance sigma^2 (B, J), positive; valid: optional (B, J) (e.g. 0 for unlabelled joints).
    Sum over joints, then `reduction` over the batch.

    The formula is eq. 7 as printed: log sigma_i appears once per joint although p_i has two coordinates
    (the exact isotropic 2D Gaussian NLL has 2 log sigma_i + log 2 pi). Both share the minimiser in mu; the
    printed form makes the optimal variance ||p_i - mu_i||^2 instead of half of it.
    """
    _check_keypoints(mean, target)
    if var.shape != target.shape[:2]:
        raise ValueError(f"var must be one value per joint {tuple(target.shape[:2])}, got {tuple(var.shape)}")
    sq = ((target - mean) ** 2).sum(-1)
    per_joint = 0.5 * torch.log(var) + sq / (2.0 * var)
    w = expand_weight(valid, per_joint, "valid")
    if w is not None:
        per_joint = per_joint * w
    return reduce_batch(per_joint.sum(1), reduction)


def mse_data_term(
    mean: torch.Tensor, target: torch.Tensor, valid: torch.Tensor | None = None, reduction: Reduction = "mean"
) -> torch.Tensor:
    """Eq. 7 with every sigma_i = 1: sum_i ||p_i - mu_i||^2 / 2.

    The data term used before switching to the NLL (sec. 4.1); it equals `nll_data_term` with unit variance,
    so the switch changes only the per-joint weighting.
    """
    _check_keypoints(mean, target)
    per_joint = 0.5 * ((target - mean) ** 2).sum(-1)
    w = expand_weight(valid, per_joint, "valid")
    if w is not None:
        per_joint = per_joint * w
    return reduce_batch(per_joint.sum(1), reduction)


def shape_regularizer(
    betas: torch.Tensor, mean_shape: torch.Tensor | None = None, reduction: Reduction = "mean", squared: bool = False
) -> torch.Tensor:
    """L_shape = ||beta - beta_mean||_2 (the L2 norm, not squared) per sample, beta (B, S).

    Sec. 3.2 of the knowledge-prior paper (beta_mean = 0); the same term is E_beta of S2HAND (sec. 3.4.1).
    `squared` gives ||.||^2 instead, the least-squares form used by the test-time fit (same minimiser,
    smooth at the mean shape).
    """
    if betas.dim() != 2:
        raise ValueError(f"expected betas of shape (B, S), got {tuple(betas.shape)}")
    d = betas if mean_shape is None else betas - mean_shape.to(dtype=betas.dtype, device=betas.device)
    per = d.square().sum(-1) if squared else torch.linalg.vector_norm(d, dim=-1)
    return reduce_batch(per, reduction)


# ---------------------------------------------------------------------------------------------------
# Anatomical pose prior (L_pose of eq. 5: joint-angle limits and functional-anatomy coupling, sec. 3.2).
# These losses are built on `handrecon.hand.anatomy` and are defined here, next to the data term.


def functional_ranges(angles: torch.Tensor, rom: torch.Tensor) -> torch.Tensor:
    """Eq. 2-3: ranges refined by the current pose, (B, 15, 3, 2) from angles (B, 15, 3) and rom (15, 3, 2).

    MCP coupling (eq. 2, collateral ligaments tighten in flexion; Schultz et al. 1987): the splay range
    shrinks linearly with bend, to nothing at either bend extreme, and the bend range shrinks the same way
    with splay. Eq. 2 as printed scales only the splay bound on the side of the bend's sign; its text (the
    range becomes very limited near extreme bends) and the ligament mechanics call for both bounds, which
    is what is done here — the feasible set is the diamond |bend|/bend_extreme + |splay|/splay_extreme <= 1.
    DIP-PIP coupling (eq. 3): a flexed DIP lifts the PIP's lower bend bound to 0.
    The refined ranges keep their gradient: the pose is pulled back towards the coupled feasible set.
    """
    t = _range_tables(rom, angles.dtype, angles.device)
    # MCP coupling on (bend, splay) at once: factor 1 - x / (the range's extreme on x's side), in [0, 1];
    # column 0 (from the bend) scales the splay range, column 1 (from the splay) the bend range.
    x = angles[..., :2]
    pos = x >= 0
    f = torch.where(torch.where(pos, t.hi_used, t.lo_used), 1 - x / torch.where(pos, t.hi_safe, t.lo_safe), 1.0)
    scale = torch.cat([f.clamp(0, 1).flip(-1), t.ones.expand(*x.shape[:-1], 1)], -1)  # (B, 15, 3)
    rng = t.rom * scale[..., None]  # (B, 15, 3, 2)
    lifted = t.bend_lo_of_pip & (angles[:, t.pip_dip, 0] > 0)[..., None, None]  # (B, 15, 3, 2)
    return torch.where(lifted, rng.clamp_min(0), rng)


def functional_range_slopes(angles: np.ndarray, rom: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """`functional_ranges` in NumPy for float64 angles (B, 15, 3) (equal to it; for the fit's analytic
    Jacobian, whose small arrays cost less in NumPy), and the derivative of each range bound with respect to
    its coupled angle (B, 15, 3, 2): the bend range's bounds move with the splay and the splay range's with
    the bend (MCP coupling); twist bounds and the DIP-PIP step have none. Piecewise linear: the slope of the
    piece that a small increase of the coupled angle moves along (a forward difference's view at a kink)."""
    return _numpy_functional_ranges(angles, rom, True)


def functional_ranges_numpy(angles: np.ndarray, rom: torch.Tensor) -> np.ndarray:
    """`functional_ranges` in NumPy for float64 angles (B, 15, 3) (equal to it), without the slopes: for
    clamping, which the fit does at every trial point."""
    return _numpy_functional_ranges(angles, rom, False)[0]


def _numpy_functional_ranges(angles: np.ndarray, rom: torch.Tensor, slopes: bool) -> tuple[np.ndarray, ...]:
    """The ranges (B, 15, 3, 2), and with `slopes` their slopes (see `functional_range_slopes`): the
    operations of `functional_ranges`, on the coupled (MCP) joints only (every other range is its table
    entry, times a factor of exactly 1) and on the PIP joints' lower bend bounds (the DIP-PIP step)."""
    t = _numpy_tables(_range_tables(rom, torch.float64, torch.device("cpu")))
    c = t.coupled
    x = angles[:, c, :2]
    pos = x >= 0
    ext = np.where(pos, t.hi_safe, t.lo_safe)
    f_raw = 1 - x / ext
    used = None if t.all_used else np.where(pos, t.hi_used, t.lo_used)
    f = np.minimum(np.maximum(f_raw if used is None else np.where(used, f_raw, 1.0), 0.0), 1.0)
    ranges = np.repeat(t.rom[None], angles.shape[0], 0)
    ranges[:, c, 0] = t.rom_coupled[:, 0] * f[:, :, 1, None]  # the bend range scales with the splay's factor
    ranges[:, c, 1] = t.rom_coupled[:, 1] * f[:, :, 0, None]  # and the splay range with the bend's
    pip_lo = ranges[:, t.pip, 0, 0].copy()
    lifted = angles[:, t.dip, 0] > 0
    ranges[:, t.pip, 0, 0] = np.where(lifted, np.maximum(pip_lo, 0.0), pip_lo)
    if not slopes:
        return (ranges,)
    slope = -1 / ext
    moving = (f_raw <= 1) & ((f_raw > 0) | ((f_raw == 0) & (slope > 0)))
    df = np.where(moving if used is None else used & moving, slope, 0.0)
    d_rng = np.zeros(ranges.shape)
    d_rng[:, c, 0] = t.rom_coupled[:, 0] * df[:, :, 1, None]
    d_rng[:, c, 1] = t.rom_coupled[:, 1] * df[:, :, 0, None]
    d_rng[:, t.pip, 0, 0] = np.where(lifted & (pip_lo <= 0), 0.0, d_rng[:, t.pip, 0, 0])
    return ranges, d_rng


class _NumpyRangeTables(NamedTuple):
    """`_RangeTables` as NumPy arrays, restricted to the joints the coupling touches."""

    rom: np.ndarray  # (15, 3, 2)
    coupled: slice | np.ndarray  # (c,) joints with a coupled bound (MCP), as a slice where they are evenly spaced
    rom_coupled: np.ndarray  # (c, 3, 2)
    hi_safe: np.ndarray  # (c, 2)
    lo_safe: np.ndarray  # (c, 2)
    hi_used: np.ndarray  # (c, 2)
    lo_used: np.ndarray  # (c, 2)
    all_used: bool  # every coupled bound is non-zero (the masks select nothing)
    pip: slice | np.ndarray  # (p,) joints whose lower bend bound the DIP-PIP step lifts
    dip: slice | np.ndarray  # (p,) the DIP of each


_NUMPY_TABLES: dict[int, tuple[object, object]] = {}


def _numpy_tables(t: _RangeTables) -> _NumpyRangeTables:
    """The tables as NumPy arrays (cached with the torch ones)."""
    entry = _NUMPY_TABLES.get(id(t))
    if entry is None or entry[0] is not t:
        if len(_NUMPY_TABLES) > 32:
            _NUMPY_TABLES.clear()
        a = _RangeTables(*(v.detach().cpu().numpy() for v in t))
        coupled = np.flatnonzero((a.hi_used | a.lo_used).any(1))
        pip = np.flatnonzero(a.bend_lo_of_pip[:, 0, 0])
        used = a.hi_used[coupled] & a.lo_used[coupled]
        tables = _NumpyRangeTables(
            a.rom, _as_slice(coupled), a.rom[coupled], a.hi_safe[coupled], a.lo_safe[coupled], a.hi_used[coupled],
            a.lo_used[coupled], bool(used.all()), _as_slice(pip), _as_slice(a.pip_dip[pip]),
        )  # fmt: skip
        entry = _NUMPY_TABLES[id(t)] = (t, tables)
    return entry[1]


def _as_slice(index: np.ndarray) -> slice | np.ndarray:
    """Evenly spaced indices as a slice (a view instead of a copy: these arrays are tiny, the fit indexes
    them hundreds of times per photo), else the indices."""
    if len(index) > 1 and np.all(np.diff(index) == index[1] - index[0]) and index[1] > index[0]:
        return slice(int(index[0]), int(index[-1]) + 1, int(index[1] - index[0]))
    return index


class _RangeTables(NamedTuple):
    """What `functional_ranges` needs of a range table, prepared once per table, dtype and device."""

    rom: torch.Tensor  # (15, 3, 2)
    hi_safe: torch.Tensor  # (15, 2) upper bend / splay extremes, 1 where unused
    lo_safe: torch.Tensor  # (15, 2) lower extremes, 1 where unused
    hi_used: torch.Tensor  # (15, 2) bool: MCP with a non-zero upper extreme
    lo_used: torch.Tensor  # (15, 2) bool
    ones: torch.Tensor  # (15, 1)
    bend_lo_of_pip: torch.Tensor  # (15, 3, 2) bool: the lower bend bound of the PIP joints
    pip_dip: torch.Tensor  # (15,)


# id(table) -> (weak reference to it, {(dtype, device, version): tables}); a few tables are in use at a time
_TABLES: dict[int, tuple[weakref.ref, dict]] = {}


def _range_tables(rom: torch.Tensor, dtype: torch.dtype, device: torch.device) -> _RangeTables:
    """The tables of `rom`, cached with it (a fit evaluates the ranges hundreds of times with one table);
    rebuilt when the table is changed in place."""
    key = (dtype, str(device), rom._version)
    entry = _TABLES.get(id(rom))
    if entry is not None and entry[0]() is rom and key in entry[1]:
        return entry[1][key]
    r = rom.detach().to(dtype=dtype, device=device)
    is_mcp, pip_dip, is_pip = _coupling_tables(device)
    lo, hi = r[:, :2, 0], r[:, :2, 1]
    mcp = is_mcp[:, None]
    tables = _RangeTables(
        rom=rom.to(dtype=dtype, device=device),  # (keeps its gradient, if any)
        hi_safe=torch.where(hi != 0, hi, 1.0),
        lo_safe=torch.where(lo != 0, lo, 1.0),
        hi_used=mcp & (hi != 0),
        lo_used=mcp & (lo != 0),
        ones=torch.ones(15, 1, dtype=dtype, device=device),
        bend_lo_of_pip=torch.zeros(15, 3, 2, dtype=torch.bool, device=device).index_put_(
            (torch.nonzero(is_pip)[:, 0], torch.tensor(0, device=device), torch.tensor(0, device=device)),
            torch.tensor(True, device=device),
        ),
        pip_dip=pip_dip,
    )
    if not rom.requires_grad:
        if entry is None or entry[0]() is not rom:
            if len(_TABLES) > 32:
                _TABLES.clear()
            entry = _TABLES[id(rom)] = (weakref.ref(rom), {})
        entry[1][key] = tables
    return tables


@functools.lru_cache(maxsize=4)
def _coupling_tables(device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Masks of the MCP and PIP joints (15,) and, per joint, the DIP of its finger (its own index if none)."""
    from handrecon.hand.rom import DIP_JOINTS, MCP_JOINTS, PIP_JOINTS

    is_mcp = torch.tensor([j in MCP_JOINTS for j in range(15)], device=device)
    is_pip = torch.tensor([j in PIP_JOINTS for j in range(15)], device=device)
    dip_of = dict(zip(PIP_JOINTS, DIP_JOINTS, strict=True))
    pip_dip = torch.tensor([dip_of.get(j, j) for j in range(15)], device=device)
    return is_mcp, pip_dip, is_pip


def range_violation(angles: torch.Tensor, ranges: torch.Tensor) -> torch.Tensor:
    """max(theta - max, min - theta, 0) per angle: (B, 15, 3), radians (ranges (15, 3, 2) or (B, 15, 3, 2))."""
    r = ranges.to(dtype=angles.dtype, device=angles.device)
    return torch.maximum(torch.maximum(angles - r[..., 1], r[..., 0] - angles), torch.zeros_like(angles))


def pose_limit_loss(
    angles: torch.Tensor, rom: torch.Tensor, functional: bool = True, reduction: Reduction = "mean"
) -> torch.Tensor:
    """Eq. 1: sum over the 15 joints and 3 Euler angles of the squared range violation (radians^2).

    angles: anatomical (bend, splay, twist) from `handrecon.hand.anatomy`, (B, 15, 3); rom: (15, 3, 2) from
    `handrecon.hand.rom.range_of_motion`. With `functional`, the ranges are first refined by eq. 2-3.
    """
    if angles.dim() != 3 or angles.shape[1:] != (15, 3):
        raise ValueError(f"angles must be (B, 15, 3), got {tuple(angles.shape)}")
    ranges = functional_ranges(angles, rom) if functional else rom
    v = range_violation(angles, ranges)
    return reduce_batch(v.square().sum((1, 2)), reduction)


class AnatomicalPosePrior(torch.nn.Module):
    """L_pose of eq. 1-3 for one hand model: joint rotations -> anatomical angles -> range violations."""

    def __init__(self, anatomy, rom: torch.Tensor, functional: bool = True) -> None:
        super().__init__()
        self.anatomy = anatomy
        self.functional = functional
        self.register_buffer("rom", rom.to(anatomy.A.dtype))

    @classmethod
    def from_hand_model(cls, model, functional: bool = True) -> AnatomicalPosePrior:
        from handrecon.hand.anatomy import Anatomy
        from handrecon.hand.rom import range_of_motion

        anatomy = Anatomy.from_hand_model(model)
        return cls(anatomy, range_of_motion(model.dtype, model.device), functional)

    def angles(self, rotations: torch.Tensor) -> torch.Tensor:
        """Local rotations of the 15 finger joints (B, 15, 3, 3) -> (B, 15, 3) bend, splay, twist."""
        return self.anatomy.rotations_to_euler(rotations)

    def violations(self, rotations: torch.Tensor) -> torch.Tensor:
        """(B, 15, 3) amounts outside the (functionally refined) ranges, radians."""
        a = self.angles(rotations)
        return range_violation(a, functional_ranges(a, self.rom) if self.functional else self.rom)

    def forward(self, rotations: torch.Tensor, reduction: Reduction = "mean") -> torch.Tensor:
        return pose_limit_loss(self.angles(rotations), self.rom, self.functional, reduction)
