"""Refinement of hand-model parameters by minimising the knowledge-prior energy (`fit.energy`).

Each hand's sum-of-squares energy is minimised by Levenberg-Marquardt (`fit.lm`, all hands of an image
in one batch, each with the model of its side). The pose is parameterised by the anatomical Euler angles
of `handrecon.hand.anatomy`, in which the pose-limit prior is a box.

Penetration: the result is tested with the full inside test of `handrecon.priors.penetration`. A hand
deeper inside itself than the tolerance gets a few more Levenberg-Marquardt rounds in which each vertex
found inside (and its nearest non-neighbour vertex, eq. 4's d(v)) adds a residual; only those vertices
are skinned, and the inside test is repeated between rounds. Two hands that penetrate each other are
refined jointly by L-BFGS with the two-hand term, which couples them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from handrecon.fit.energy import (
    FitWeights,
    keypoint_residuals,
    pose_residuals,
    sqrt2_weight,
    world_residuals,
)
from handrecon.fit.initialize import HandParams
from handrecon.fit.lm import levenberg_marquardt
from handrecon.geometry.camera import project_points
from handrecon.hand.anatomy import Anatomy
from handrecon.hand.rom import range_of_motion
from handrecon.hand.tolerances import PENETRATION_TOLERANCE_M
from handrecon.priors.knowledge import functional_ranges
from handrecon.priors.penetration import (
    penetration_excess,
    self_penetration,
    two_hand_penetration_depth,
    two_hand_penetration_loss,
)


@dataclass
class HandObservation:
    """What the fit matches for one hand: 2D keypoints (OpenPose order, pixels) with per-joint sigma, and
    the detector's metric landmarks already placed in the camera frame (`fit.initialize.place_landmarks`)."""

    side: str
    keypoints: torch.Tensor  # (21, 2)
    sigma: torch.Tensor  # (21,)
    world: torch.Tensor | None = None  # (21, 3) camera frame, metres
    valid: torch.Tensor | None = None  # (21,) bool


@dataclass
class FitResult:
    params: HandParams  # global_orient (1,3) axis-angle, hand_pose (1,15,3,3), betas (1,S), transl (1,3)
    angles: torch.Tensor  # (15, 3) anatomical angles, radians
    energy_terms: dict[str, float] = field(default_factory=dict)
    # penetration depths at the result (metres; None when not tested): eq. 4's d(v) inside the hand itself,
    # and the deepest vertex inside the other hand of the image
    self_penetration: float | None = None
    other_hand_penetration: float | None = None


@dataclass(frozen=True)
class FitSettings:
    iterations: int = 8
    # Penetration stage: test the result (False: leave it to the caller), and while a hand is deeper than
    # `penetration_trigger` inside itself, up to `penetration_rounds` rounds of `penetration_iterations`
    # steps that fit the penetrating vertices to `penetration_fit_tolerance` (eq. 4's d_tol, below the
    # reported tolerance so that results end clearly inside it).
    test_penetration: bool = True
    penetration_rounds: int = 3
    penetration_iterations: int = 3
    penetration_trigger: float = PENETRATION_TOLERANCE_M
    penetration_fit_tolerance: float = 0.0024
    # L-BFGS iterations for two hands penetrating each other
    two_hand_iterations: int = 20
    min_sigma_px: float = 0.5


ResidualFn = Callable[..., torch.Tensor]


class HandFitter:
    """Fits hand-model parameters to per-hand observations in one image (see module docstring)."""

    def __init__(
        self,
        models: dict,
        weights: FitWeights | None = None,
        settings: FitSettings | None = None,
    ) -> None:
        # Fitting runs in float64: finite-difference Jacobians and Gauss-Newton steps need the precision.
        self.models = {side: m if m.dtype == torch.float64 else _double_copy(m) for side, m in models.items()}
        self.anatomy = {side: Anatomy.from_hand_model(m) for side, m in self.models.items()}
        self.rom = range_of_motion(torch.float64)
        self.weights = weights or FitWeights()
        self.settings = settings or FitSettings()

    # -------------------------------------------------------------------------------------------
    # Parameter vector per hand: global orient (3), anatomical angles (45), betas (S), transl (3),
    # log segment scales (16).
    def _split(self, x: torch.Tensor):
        S = x.shape[1] - 67
        b = 48 + S
        return x[:, :3], x[:, 3:48].reshape(-1, 15, 3), x[:, 48:b], x[:, b : b + 3], x[:, b + 3 :]

    def _inputs(self, side: str, x: torch.Tensor) -> dict:
        go, ang, betas, transl, log_s = self._split(x)
        R = self.anatomy[side].euler_to_rotations(ang)
        return {"global_orient": go, "hand_pose": R, "betas": betas, "transl": transl, "bone_scales": log_s.exp()}

    def _joints(self, side: str, x: torch.Tensor) -> torch.Tensor:
        return self.models[side](**self._inputs(side, x), skin_mesh=False).joints

    def fit(
        self,
        observations: list[HandObservation],
        K: torch.Tensor,
        init: list[HandParams],
        previous: list[HandParams | None] | None = None,
    ) -> list[FitResult]:
        if not observations:
            return []
        f64 = torch.float64
        K = K.to(f64)
        n = len(observations)
        sides = [o.side for o in observations]
        x0 = torch.cat(
            [
                torch.cat(
                    [
                        p.global_orient.to(f64),
                        self.anatomy[o.side].rotations_to_euler(p.hand_pose.to(f64)).reshape(1, -1),
                        p.betas.to(f64),
                        p.transl.to(f64),
                        torch.zeros(1, 16, dtype=f64) if p.bone_scales is None else p.bone_scales.to(f64).log(),
                    ],
                    1,
                )
                for o, p in zip(observations, init, strict=True)
            ]
        )
        # Start inside the functional ranges (the initial pose comes from unconstrained inverse kinematics):
        # the stiff penalty beyond them then starts at zero instead of dominating the first steps.
        x0[:, 3:48] = _clamp_to_functional_ranges(x0[:, 3:48].reshape(-1, 15, 3), self.rom).reshape(-1, 45)
        kp = torch.stack([o.keypoints for o in observations]).to(f64)
        sig = torch.stack([o.sigma for o in observations]).to(f64).clamp_min(self.settings.min_sigma_px)
        valid = torch.stack(
            [o.valid if o.valid is not None else torch.ones(21, dtype=torch.bool) for o in observations]
        )
        has_world = torch.tensor([o.world is not None for o in observations])
        world = torch.stack([o.world if o.world is not None else torch.zeros(21, 3) for o in observations]).to(f64)
        x_prev, has_prev = None, torch.zeros(n, dtype=torch.bool)
        if previous is not None and self.weights.temporal > 0:
            rows = []
            for i, p in enumerate(previous):
                if p is None:
                    rows.append(x0[i])
                    continue
                has_prev[i] = True
                rows.append(
                    torch.cat(
                        [
                            p.global_orient.to(f64)[0],
                            self.anatomy[sides[i]].rotations_to_euler(p.hand_pose.to(f64))[0].reshape(-1),
                            p.betas.to(f64)[0],
                            p.transl.to(f64)[0] * 10,  # decimetres: comparable to radians for the step size
                            torch.zeros(16, dtype=f64) if p.bone_scales is None else p.bone_scales.to(f64)[0].log(),
                        ]
                    )
                )
            x_prev = torch.stack(rows)
        w = self.weights
        s2d, spose, sworld = sqrt2_weight(w.keypoints_2d) / 2**0.5, sqrt2_weight(w.pose), sqrt2_weight(w.world)
        sshape, stemp = sqrt2_weight(w.shape), sqrt2_weight(w.temporal)
        shard, tol = sqrt2_weight(w.pose_beyond_tolerance), math.radians(w.pose_tolerance_deg)
        scale_sigma = torch.full((16,), w.bone_scale_sigma, dtype=f64)
        scale_sigma[0] = w.palm_scale_sigma

        side_names = sorted(set(sides))
        side_index = torch.tensor([side_names.index(s) for s in sides])

        def residuals(X: torch.Tensor, ids: torch.Tensor, surface: SurfaceTerm | None = None) -> torch.Tensor:
            """Residuals (N, R) of parameter rows X (N, P) of hands `ids` (N,); `surface` adds residuals on
            a few skinned vertices (all rows then belong to hands of one side)."""
            out_rows = []
            for k, side in enumerate(side_names):
                rows = torch.nonzero(side_index[ids] == k).flatten()
                if rows.numel() == 0:
                    continue
                Xs, hs = X[rows], ids[rows]
                vids = None if surface is None else surface.vertex_ids
                out = self.models[side](**self._inputs(side, Xs), skin_mesh=False, vertex_ids=vids)
                J = out.joints
                _, ang, betas, transl, log_s = self._split(Xs)
                viol, beyond = pose_residuals(ang, self.rom, tol)
                r = [
                    s2d * keypoint_residuals(project_points(J, K), kp[hs], sig[hs], valid[hs]),
                    spose * viol,
                    sworld * world_residuals(J, world[hs], has_world[hs]),
                    sshape * betas,
                    log_s / scale_sigma,
                    shard * beyond,
                ]
                if x_prev is not None:
                    t0 = Xs.shape[1] - 19
                    xs = torch.cat([Xs[:, :t0], Xs[:, t0 : t0 + 3] * 10, Xs[:, t0 + 3 :]], 1)
                    r.append(stemp * (xs - x_prev[hs]) * has_prev[hs, None].to(f64))
                if surface is not None:
                    r.append(surface.residuals(out.vertices))
                out_rows.append((rows, torch.cat(r, 1)))
            R = torch.zeros(X.shape[0], out_rows[0][1].shape[1], dtype=f64)
            for rows, r in out_rows:
                R[rows] = r
            return R

        x, _ = levenberg_marquardt(residuals, x0, iterations=self.settings.iterations, project=self._project)
        depths: list[tuple[float | None, float | None]] = [(None, None)] * n
        if self.settings.test_penetration:
            x, depths = self._penetration_stage(x, sides, residuals)
        with torch.no_grad():
            terms = self._terms(x, sides, residuals)
        results = []
        for i, o in enumerate(observations):
            inp = self._inputs(o.side, x[i : i + 1])
            params = HandParams(inp["global_orient"], inp["hand_pose"], inp["betas"], inp["transl"], inp["bone_scales"])
            results.append(FitResult(params, self._split(x[i : i + 1])[1][0], terms[i], *depths[i]))
        return results

    def _project(self, X: torch.Tensor) -> torch.Tensor:
        """Parameter rows with the anatomical angles moved to within the pose tolerance of their functional
        ranges: the fit may trade that much range for the keypoints, never more. This is the set where the
        stiff beyond-tolerance penalty is zero, so trial points never meet it."""
        out = X.clone()
        margin = math.radians(self.weights.pose_tolerance_deg)
        out[:, 3:48] = _clamp_to_functional_ranges(X[:, 3:48].reshape(-1, 15, 3), self.rom, margin=margin).reshape(
            -1, 45
        )
        return out

    # -------------------------------------------------------------------------------------------
    def _vertices(self, side: str, x: torch.Tensor) -> torch.Tensor:
        return self.models[side](**self._inputs(side, x)).vertices

    def _penetration_stage(
        self, x: torch.Tensor, sides: list[str], residuals: ResidualFn
    ) -> tuple[torch.Tensor, list[tuple[float | None, float | None]]]:
        """Resolve penetration (see the module notes); returns the parameters and each hand's depths
        (inside itself, inside the other hand) at them."""
        n = len(sides)
        pair = n == 2 and sides[0] != sides[1]
        if pair and self.settings.two_hand_iterations > 0:
            x = self._two_hand_stage(x, sides, residuals)
        own = []
        for i in range(n):
            xi, depth = self._self_penetration_rounds(x[i : i + 1], i, sides[i], residuals)
            x[i : i + 1] = xi
            own.append(depth)
        other = [None] * n
        if pair:
            with torch.no_grad():
                va, vb = (self._vertices(sides[i], x[i : i + 1]) for i in range(2))
                other = [float(two_hand_penetration_depth(va, vb, self.models[sides[0]], self.models[sides[1]]))] * 2
        return x, list(zip(own, other, strict=True))

    def _self_penetration_rounds(
        self, x: torch.Tensor, hand: int, side: str, residuals: ResidualFn
    ) -> tuple[torch.Tensor, float]:
        """Levenberg-Marquardt rounds with residuals on the vertices found inside the hand (accumulated over
        rounds, each with its current nearest non-neighbour vertex), until no vertex is deeper than the
        trigger. Returns the parameters (1, P) and the final depth (metres)."""
        s, model = self.settings, self.models[side]
        pairs: dict[int, int] = {}
        scale = sqrt2_weight(self.weights.penetration)
        for round_ in range(s.penetration_rounds + 1):
            with torch.no_grad():
                pen = self_penetration(self._vertices(side, x), model)
            depth = float(pen.distance.max())
            if depth <= s.penetration_trigger or round_ == s.penetration_rounds or s.penetration_iterations <= 0:
                return x, depth
            inside = torch.nonzero(pen.inside[0]).flatten()
            pairs.update(zip(inside.tolist(), pen.nearest[0, inside].tolist(), strict=True))
            term = SurfaceTerm.from_pairs(pairs, scale, s.penetration_fit_tolerance)
            x, _ = levenberg_marquardt(
                lambda X, ids, t=term: residuals(X, torch.full_like(ids, hand), t),
                x,
                iterations=s.penetration_iterations,
                project=self._project,
            )
        return x, depth

    def _two_hand_stage(self, x: torch.Tensor, sides: list[str], residuals: ResidualFn) -> torch.Tensor:
        """Two hands deeper inside each other than the trigger: L-BFGS on the least-squares energy plus the
        two-hand penetration term (which couples the hands)."""
        ma, mb = self.models[sides[0]], self.models[sides[1]]
        with torch.no_grad():
            va, vb = (self._vertices(sides[i], x[i : i + 1]) for i in range(2))
            if float(two_hand_penetration_depth(va, vb, ma, mb)) <= self.settings.penetration_trigger:
                return x
        var = x.detach().clone().requires_grad_(True)
        ids = torch.arange(2)
        opt = torch.optim.LBFGS([var], max_iter=self.settings.two_hand_iterations, line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            va, vb = (self._vertices(sides[i], var[i : i + 1]) for i in range(2))
            e = 0.5 * residuals(var, ids).square().sum()
            e = e + self.weights.two_hand * two_hand_penetration_loss(va, vb, ma, mb, reduction="sum")
            e.backward()
            return e

        opt.step(closure)
        return var.detach()

    def _terms(self, x: torch.Tensor, sides: list[str], residuals) -> list[dict[str, float]]:
        """Energy per term and hand at the solution (for the result files)."""
        R = residuals(x, torch.arange(len(sides)))
        S = x.shape[1] - 67
        cuts = {"keypoints_2d": 42, "pose": 45, "world": 63, "shape": S, "bone_scales": 16, "pose_beyond_tolerance": 45}
        out = []
        for i in range(len(sides)):
            k, d = 0, {}
            for name, size in cuts.items():
                d[name] = float(0.5 * R[i, k : k + size].square().sum())
                k += size
            d["total"] = float(0.5 * R[i].square().sum())
            out.append(d)
        return out


def _clamp_to_functional_ranges(
    angles: torch.Tensor, rom: torch.Tensor, rounds: int = 3, margin: float = 0.0
) -> torch.Tensor:
    """Angles (N, 15, 3) moved to within `margin` (radians) of the ranges of `functional_ranges`; the ranges
    depend on the angles (eq. 2-3), so clamping repeats a few times (each round only shrinks the coupled
    angles)."""
    a = torch.maximum(torch.minimum(angles, rom[..., 1] + margin), rom[..., 0] - margin)
    for _ in range(rounds):
        r = functional_ranges(a, rom)
        a = torch.maximum(torch.minimum(a, r[..., 1] + margin), r[..., 0] - margin)
    return a


@dataclass(frozen=True)
class SurfaceTerm:
    """Penetration residuals on a few vertices: pairs (v, u) of an inside vertex and its nearest
    non-neighbour vertex; `vertex_ids` are the vertices to skin, `residuals` maps them to the residuals."""

    vertex_ids: torch.Tensor  # (m,)
    inner: torch.Tensor  # (k,) positions in vertex_ids of the inside vertices
    nearest: torch.Tensor  # (k,) positions of their nearest vertices
    scale: float
    tolerance: float

    @classmethod
    def from_pairs(cls, pairs: dict[int, int], scale: float, tolerance: float) -> SurfaceTerm:
        ids = sorted(set(pairs) | set(pairs.values()))
        pos = {v: k for k, v in enumerate(ids)}
        inner = torch.tensor([pos[v] for v in pairs])
        nearest = torch.tensor([pos[u] for u in pairs.values()])
        return cls(torch.tensor(ids), inner, nearest, scale, tolerance)

    def residuals(self, vertices: torch.Tensor) -> torch.Tensor:
        return self.scale * penetration_excess(vertices[:, self.inner], vertices[:, self.nearest], self.tolerance)


def _double_copy(model):
    import copy

    return copy.deepcopy(model).double()
