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
from dataclasses import dataclass, field, fields, replace

import numpy as np
import torch

from handrecon.fit import derivatives as lean
from handrecon.fit.energy import (
    FitWeights,
    keypoint_residuals,
    metric_world_residuals,
    pose_residuals,
    robust_keypoint_weights,
    sqrt2_weight,
    world_residuals,
    world_row_factors,
)
from handrecon.fit.initialize import HandParams
from handrecon.fit.joints_forward import ChainState, JointChain, MeshSkin
from handrecon.fit.layout import ParameterLayout, ResidualLayout
from handrecon.fit.lm import levenberg_marquardt
from handrecon.fit.torch_threads import single_torch_thread
from handrecon.geometry.camera import project_points
from handrecon.hand.anatomy import Anatomy
from handrecon.hand.rom import range_of_motion
from handrecon.hand.tolerances import PENETRATION_TOLERANCE_M
from handrecon.io.errors import SettingError
from handrecon.priors.knowledge import functional_ranges, functional_ranges_numpy
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
    # A hand's Levenberg-Marquardt stops early once an accepted step lowers its energy by less than this
    # fraction (of 1 + the energy). The default spends practically the whole step budget: a looser value
    # saves steps but stops the weakly determined depth early (1e-3 saved ~10 % of a photo fit and moved
    # one dev-photo hand 18 cm along the viewing ray at an energy within 1 %; benchmarks/bench_fit.py).
    convergence_tolerance: float = 1e-10
    # How Levenberg-Marquardt linearises: "analytic" (the keypoints' exact derivatives through the rigid
    # chain, `fit.joints_forward`, and the residual terms' own, `fit.derivatives`: one lean forward pass per
    # step) or "finite_difference" (forward differences through `HandModel.forward`, one batched call of
    # P + 1 rows per step; the reference). The penetration rounds' vertex terms follow the same choice.
    jacobian: str = "analytic"
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
JACOBIANS = ("analytic", "finite_difference")


@dataclass(frozen=True)
class _Targets:
    """The observations of a batch of hands as float64 tensors, one row per hand."""

    keypoints: torch.Tensor  # (n, 21, 2) pixels
    sigma: torch.Tensor  # (n, 21) pixels, at least `FitSettings.min_sigma_px`
    valid: torch.Tensor  # (n, 21) bool
    world: torch.Tensor  # (n, 21, 3) metres (zeros where absent)
    has_world: torch.Tensor  # (n,) bool
    previous: torch.Tensor | None  # (n, P) the previous frame's rows in temporal units, or None
    has_previous: torch.Tensor  # (n,) bool


@dataclass(frozen=True)
class _TermScales:
    """Each energy term's weight as the factor on its residuals (`sqrt2_weight`), and the pose tolerance."""

    keypoints_2d: float
    pose: float
    world: float
    world_metric: float
    shape: float
    temporal: float
    pose_beyond_tolerance: float
    pose_tolerance_rad: float
    log_scale_sigma: torch.Tensor  # (16,)
    world_rows: np.ndarray | None = None  # (63,) per-row factors of the 3D-landmark term; None: all 1

    @classmethod
    def from_weights(cls, w: FitWeights) -> _TermScales:
        scale_sigma = torch.full((ParameterLayout.SCALES,), w.bone_scale_sigma, dtype=torch.float64)
        scale_sigma[0] = w.palm_scale_sigma
        return cls(
            keypoints_2d=sqrt2_weight(w.keypoints_2d) / 2**0.5,
            pose=sqrt2_weight(w.pose),
            world=sqrt2_weight(w.world),
            world_metric=sqrt2_weight(w.world_metric),
            shape=sqrt2_weight(w.shape),
            temporal=sqrt2_weight(w.temporal),
            pose_beyond_tolerance=sqrt2_weight(w.pose_beyond_tolerance),
            pose_tolerance_rad=math.radians(w.pose_tolerance_deg),
            log_scale_sigma=scale_sigma,
            world_rows=world_row_factors(w.world_joint_weights),
        )

    def world_term(self, rows: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        """The 3D-landmark term's residual rows (N, 63) or Jacobian (N, 63, P), NumPy or torch, times its
        weight and each joint's factor (`FitWeights.world_joint_weights`; none by default)."""
        if self.world_rows is None:
            return self.world * rows
        f = self.world_rows if isinstance(rows, np.ndarray) else torch.from_numpy(self.world_rows)
        return self.world * rows * (f if rows.ndim == 2 else f[:, None])


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
        # lean keypoints with exact derivatives (NumPy, CPU), for the models with MANO's tree
        self.chains = {
            side: JointChain(m, self.anatomy[side])
            for side, m in self.models.items()
            if JointChain.supports(m) and m.device.type == "cpu"
        }
        self.rom = range_of_motion(torch.float64)
        self.weights = weights or FitWeights()
        self.settings = settings or FitSettings()

    # -------------------------------------------------------------------------------------------
    # Parameter rows (`fit.layout.ParameterLayout`) <-> hand-model inputs.
    def _inputs(self, side: str, x: torch.Tensor) -> dict:
        go, ang, betas, transl, log_s = ParameterLayout.of_rows(x).split(x)
        R = self.anatomy[side].euler_to_rotations(ang)
        return {"global_orient": go, "hand_pose": R, "betas": betas, "transl": transl, "bone_scales": log_s.exp()}

    def _row(self, side: str, p: HandParams) -> torch.Tensor:
        """The parameter row (1, P) of hand parameters p (batch of one)."""
        f64 = torch.float64
        no_scales = p.bone_scales is None
        log_s = torch.zeros(1, ParameterLayout.SCALES, dtype=f64) if no_scales else p.bone_scales.to(f64).log()
        layout = ParameterLayout(p.betas.shape[1])
        angles = self.anatomy[side].rotations_to_euler(p.hand_pose.to(f64))
        return layout.join(p.global_orient.to(f64), angles, p.betas.to(f64), p.transl.to(f64), log_s)

    def surface_chain(self, side: str, vertex_ids: torch.Tensor) -> JointChain:
        """The lean forward of the keypoints and the vertices `vertex_ids` (penetration rounds), cached for
        the last set of vertices per side; derived from the side's keypoint chain (only the vertex rows are
        new)."""
        key = (side, tuple(vertex_ids.tolist()))
        cache = self.__dict__.setdefault("_surface_chains", {})
        if key not in cache:
            cache.clear()
            model = self.models[side]
            base = self.chains.get(side)
            cache[key] = (
                base.with_vertices(model, vertex_ids)
                if base is not None
                else JointChain(model, self.anatomy[side], vertex_ids=vertex_ids)
            )
        return cache[key]

    def _joints(self, side: str, x: torch.Tensor) -> torch.Tensor:
        return self.models[side](**self._inputs(side, x), skin_mesh=False).joints

    def fit(
        self,
        observations: list[HandObservation],
        K: torch.Tensor,
        init: list[HandParams],
        previous: list[HandParams | None] | None = None,
        settings: FitSettings | None = None,
    ) -> list[FitResult]:
        """Fitted parameters of each observed hand: Levenberg-Marquardt from `init`, then the penetration
        stage; `previous` (video) adds the temporal term towards the previous frame's parameters.
        `settings` replaces the fitter's own for this call (e.g. a step budget for a start that is already
        close: `dataclasses.replace(fitter.settings, iterations=2)`). Runs with one torch thread
        (`fit.torch_threads`: small tensors; the same results, a fraction of the time on a busy machine)."""
        if not observations:
            return []
        with single_torch_thread():
            return self._fit(observations, K, init, previous, settings)

    def _fit(
        self,
        observations: list[HandObservation],
        K: torch.Tensor,
        init: list[HandParams],
        previous: list[HandParams | None] | None,
        settings: FitSettings | None,
    ) -> list[FitResult]:
        s = settings or self.settings
        if s.jacobian not in JACOBIANS:
            raise SettingError("fit.jacobian", f"unknown Jacobian {s.jacobian!r}; choose from {', '.join(JACOBIANS)}")
        sides = [o.side for o in observations]
        rows = _RowCache(self._row)  # a video's start is its previous frame: one conversion for both
        x0 = self._initial_rows(sides, init, rows)
        targets = self._targets(observations, self._previous_rows(sides, previous, x0, rows), s)
        analytic = s.jacobian == "analytic" and all(side in self.chains for side in sides)
        scales = _TermScales.from_weights(self.weights)
        residuals = _Residuals(self, sides, K.to(torch.float64), targets, scales, lean=analytic)
        robust = self.weights.keypoint_kernel != "none"
        x, _, r = levenberg_marquardt(
            residuals,
            x0,
            iterations=s.iterations,
            tolerance=s.convergence_tolerance,
            project=self._project,
            with_residuals=True,
            jacobian=residuals.linearise if analytic else None,
            reweight=residuals.reweight if robust else None,
        )
        depths: list[tuple[float | None, float | None]] = [(None, None)] * len(sides)
        if s.test_penetration:
            fitted = x.clone()
            x, depths = self._penetration_stage(x, sides, residuals, s)
            if not torch.equal(x, fitted):  # moved by the penetration rounds: the residuals changed
                with torch.no_grad():
                    r = residuals(x, torch.arange(len(sides)))
        terms = self._terms(x, r)
        return [self._result(o.side, x[i : i + 1], terms[i], depths[i]) for i, o in enumerate(observations)]

    def _initial_rows(self, sides: list[str], init: list[HandParams], row: _RowCache) -> torch.Tensor:
        """Rows (n, P) of the initial parameters, the angles moved into the functional ranges (the initial
        pose comes from unconstrained inverse kinematics): the stiff penalty beyond them then starts at zero
        instead of dominating the first steps. `row`: the call's `_RowCache`."""
        x0 = torch.cat([row(side, p) for side, p in zip(sides, init, strict=True)])
        angles = ParameterLayout.of_rows(x0).angles
        x0[:, angles] = _clamp_to_functional_ranges(x0[:, angles].reshape(-1, 15, 3), self.rom).reshape(-1, 45)
        return x0

    def _previous_rows(
        self, sides: list[str], previous: list[HandParams | None] | None, x0: torch.Tensor, row: _RowCache
    ) -> tuple[torch.Tensor | None, torch.Tensor]:
        """The previous frame's rows in temporal units (n, P) (None without a temporal term) and which hands
        have one (n,); a hand without one keeps its initial row, which the term then ignores."""
        has_prev = torch.zeros(len(sides), dtype=torch.bool)
        if previous is None or self.weights.temporal <= 0:
            return None, has_prev
        layout = ParameterLayout.of_rows(x0)
        rows = []
        for i, p in enumerate(previous):
            if p is None:
                rows.append(x0[i])
                continue
            has_prev[i] = True
            rows.append(layout.temporal_units(row(sides[i], p))[0])
        return torch.stack(rows), has_prev

    def _targets(
        self,
        observations: list[HandObservation],
        previous: tuple[torch.Tensor | None, torch.Tensor],
        settings: FitSettings,
    ) -> _Targets:
        f64 = torch.float64
        return _Targets(
            keypoints=torch.stack([o.keypoints for o in observations]).to(f64),
            sigma=torch.stack([o.sigma for o in observations]).to(f64).clamp_min(settings.min_sigma_px),
            valid=torch.stack(
                [o.valid if o.valid is not None else torch.ones(21, dtype=torch.bool) for o in observations]
            ),
            world=torch.stack([o.world if o.world is not None else torch.zeros(21, 3) for o in observations]).to(f64),
            has_world=torch.tensor([o.world is not None for o in observations]),
            previous=previous[0],
            has_previous=previous[1],
        )

    def _result(
        self, side: str, x: torch.Tensor, terms: dict[str, float], depths: tuple[float | None, float | None]
    ) -> FitResult:
        """The fit result of one hand's row x (1, P)."""
        inp = self._inputs(side, x)
        params = HandParams(inp["global_orient"], inp["hand_pose"], inp["betas"], inp["transl"], inp["bone_scales"])
        return FitResult(params, ParameterLayout.of_rows(x).split(x).angles[0], terms, *depths)

    def _project(self, X: torch.Tensor) -> torch.Tensor:
        """Parameter rows with the anatomical angles moved to within the pose tolerance of their functional
        ranges: the fit may trade that much range for the keypoints, never more. This is the set where the
        stiff beyond-tolerance penalty is zero, so trial points never meet it."""
        margin = math.radians(self.weights.pose_tolerance_deg)
        angles = ParameterLayout.of_rows(X).angles
        if X.dtype == torch.float64 and X.device.type == "cpu" and not X.requires_grad:  # (no tensor ops)
            out = X.numpy().copy()
            out[:, angles] = _clamp_numpy(out[:, angles].reshape(-1, 15, 3), self.rom, 3, margin).reshape(-1, 45)
            return torch.from_numpy(out)
        out = X.clone()
        out[:, angles] = _clamp_to_functional_ranges(X[:, angles].reshape(-1, 15, 3), self.rom, margin=margin).reshape(
            -1, 45
        )
        return out

    # -------------------------------------------------------------------------------------------
    def _vertices(self, side: str, x: torch.Tensor) -> torch.Tensor:
        """The posed mesh (n, V, 3) of rows x (n, P): through the lean chain without gradients (equal to the
        model's forward to rounding, a fraction of its cost), else the model itself."""
        if x.requires_grad or x.dtype != torch.float64 or side not in self.chains:
            return self.models[side](**self._inputs(side, x)).vertices
        skin = self.__dict__.setdefault("_skins", {})
        if side not in skin:
            skin[side] = MeshSkin(self.models[side])
        layout = ParameterLayout.of_rows(x)
        a = x.detach().numpy()
        angles, betas, transl = a[:, layout.angles].reshape(-1, 15, 3), a[:, layout.betas], a[:, layout.transl]
        st = self.chains[side].forward(a[:, : layout.ORIENT], angles, betas, transl, a[:, layout.log_scales])
        return torch.from_numpy(skin[side].vertices(st, betas, transl))

    def _penetration_stage(
        self, x: torch.Tensor, sides: list[str], residuals: ResidualFn, s: FitSettings
    ) -> tuple[torch.Tensor, list[tuple[float | None, float | None]]]:
        """Resolve penetration (see the module notes); returns the parameters and each hand's depths
        (inside itself, inside the other hand) at them."""
        n = len(sides)
        pair = n == 2 and sides[0] != sides[1]
        meshes = _StageMeshes(self._vertices)
        if pair and s.two_hand_iterations > 0:
            x = self._two_hand_stage(x, sides, residuals, s, meshes)
        own = []
        for i in range(n):
            xi, depth = self._self_penetration_rounds(x[i : i + 1], i, sides[i], residuals, s, meshes)
            x[i : i + 1] = xi
            own.append(depth)
        other = [None] * n
        if pair:
            other = [meshes.pair_depth(sides, x, self.models[sides[0]], self.models[sides[1]])] * 2
        return x, list(zip(own, other, strict=True))

    def _self_penetration_rounds(
        self,
        x: torch.Tensor,
        hand: int,
        side: str,
        residuals: ResidualFn,
        s: FitSettings,
        meshes: _StageMeshes,
    ) -> tuple[torch.Tensor, float]:
        """Levenberg-Marquardt rounds with residuals on the vertices found inside the hand (accumulated over
        rounds, each with its current nearest non-neighbour vertex), until no vertex is deeper than the
        trigger. Returns the parameters (1, P) and the final depth (metres)."""
        model = self.models[side]
        pairs: dict[int, int] = {}
        scale = sqrt2_weight(self.weights.penetration)
        for round_ in range(s.penetration_rounds + 1):
            with torch.no_grad():
                pen = self_penetration(meshes(side, x), model)
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
                tolerance=s.convergence_tolerance,
                project=self._project,
                jacobian=(lambda X, ids, t=term: residuals.linearise(X, torch.full_like(ids, hand), t))
                if residuals.lean
                else None,
            )
        return x, depth

    def _two_hand_stage(
        self,
        x: torch.Tensor,
        sides: list[str],
        residuals: ResidualFn,
        s: FitSettings,
        meshes: _StageMeshes,
    ) -> torch.Tensor:
        """Two hands deeper inside each other than the trigger: L-BFGS on the least-squares energy plus the
        two-hand penetration term (which couples the hands)."""
        ma, mb = self.models[sides[0]], self.models[sides[1]]
        if meshes.pair_depth(sides, x, ma, mb) <= s.penetration_trigger:
            return x
        var = x.detach().clone().requires_grad_(True)
        ids = torch.arange(2)
        opt = torch.optim.LBFGS([var], max_iter=s.two_hand_iterations, line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            va, vb = (self._vertices(sides[i], var[i : i + 1]) for i in range(2))
            e = 0.5 * residuals(var, ids).square().sum()
            e = e + self.weights.two_hand * two_hand_penetration_loss(va, vb, ma, mb, reduction="sum")
            e.backward()
            return e

        opt.step(closure)
        return var.detach()

    def _terms(self, x: torch.Tensor, R: torch.Tensor) -> list[dict[str, float]]:
        """Energy per term and hand (for the result files) from the residual rows R (n, R) at rows x."""
        layout = ResidualLayout(ParameterLayout.of_rows(x).num_betas, self.weights.world_metric > 0)
        return [layout.energies(R[i]) for i in range(R.shape[0])]


def _clamp_to_functional_ranges(
    angles: torch.Tensor, rom: torch.Tensor, rounds: int = 3, margin: float = 0.0
) -> torch.Tensor:
    """Angles (N, 15, 3) moved to within `margin` (radians) of the ranges of `functional_ranges`; the ranges
    depend on the angles (eq. 2-3), so clamping repeats a few times (each round only shrinks the coupled
    angles). Float64 CPU angles without gradient go through the NumPy twin of the ranges (equal values,
    a third of the cost: the fit projects every trial point)."""
    if angles.dtype == torch.float64 and angles.device.type == "cpu" and not angles.requires_grad:
        return torch.from_numpy(_clamp_numpy(angles.numpy(), rom, rounds, margin))
    a = torch.maximum(torch.minimum(angles, rom[..., 1] + margin), rom[..., 0] - margin)
    for _ in range(rounds):
        r = functional_ranges(a, rom)
        clamped = torch.maximum(torch.minimum(a, r[..., 1] + margin), r[..., 0] - margin)
        if torch.equal(clamped, a):  # a fixed point: further rounds would change nothing
            break
        a = clamped
    return a


def _clamp_numpy(angles: np.ndarray, rom: torch.Tensor, rounds: int, margin: float) -> np.ndarray:
    """`_clamp_to_functional_ranges` of float64 angles (N, 15, 3) in NumPy (the same operations)."""
    bounds = _ROM_ARRAYS.get(id(rom))
    if bounds is None or bounds[0] is not rom or bounds[1] != rom._version:
        _ROM_ARRAYS.clear()  # (one table in use at a time)
        bounds = _ROM_ARRAYS[id(rom)] = (rom, rom._version, rom[..., 0].numpy().copy(), rom[..., 1].numpy().copy())
    a = np.maximum(np.minimum(angles, bounds[3] + margin), bounds[2] - margin)
    for _ in range(rounds):
        r = functional_ranges_numpy(a, rom)
        clamped = np.maximum(np.minimum(a, r[..., 1] + margin), r[..., 0] - margin)
        if np.array_equal(clamped, a):
            break
        a = clamped
    return a


# id(range table) -> (the table, its version, its lower and upper bounds as arrays)
_ROM_ARRAYS: dict[int, tuple] = {}


class _StageMeshes:
    """The posed meshes (and the two hands' depth) of one penetration stage, kept per parameter row: the
    stage tests rows that nothing moved in between more than once (each hand's own test after the two-hand
    test, the two-hand depth before and after the hands' own rounds, which most hands do not need).
    `vertices(side, row (1, P))` poses a mesh; rows with gradients are not kept (L-BFGS poses those)."""

    def __init__(self, vertices: Callable[[str, torch.Tensor], torch.Tensor]) -> None:
        self._vertices = vertices
        self._meshes: dict[tuple[str, bytes], torch.Tensor] = {}
        self._depths: dict[tuple, float] = {}

    @staticmethod
    def _key(side: str, row: torch.Tensor) -> tuple[str, bytes]:
        return side, row.detach().cpu().numpy().tobytes()

    def __call__(self, side: str, row: torch.Tensor) -> torch.Tensor:
        if row.requires_grad:
            return self._vertices(side, row)
        key = self._key(side, row)
        if key not in self._meshes:
            self._meshes[key] = self._vertices(side, row)
        return self._meshes[key]

    def pair_depth(self, sides: list[str], x: torch.Tensor, model_a, model_b) -> float:
        """The deepest vertex of either hand inside the other (metres) at rows x (2, P)."""
        key = (self._key(sides[0], x[0:1]), self._key(sides[1], x[1:2]))
        if key not in self._depths:
            with torch.no_grad():
                va, vb = (self(sides[i], x[i : i + 1]) for i in range(2))
                self._depths[key] = float(two_hand_penetration_depth(va, vb, model_a, model_b))
        return self._depths[key]


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


class _RowCache:
    """`HandFitter._row` remembered per parameter object within one fit call: a video frame's start and its
    temporal term's previous frame are the same parameters, converted (rotations to angles) once. The rows
    are not changed in place by their users (`torch.cat`, `temporal_units` copy)."""

    def __init__(self, row) -> None:
        self._row, self._rows = row, {}

    def __call__(self, side: str, p: HandParams) -> torch.Tensor:
        key = (side, id(p))
        if key not in self._rows:
            self._rows[key] = (p, self._row(side, p))  # p kept: its id stays its own during the call
        return self._rows[key][1]


class _Residuals:
    """The residual rows of the fit's energy (`fit.energy`, blocks in `fit.layout.ResidualLayout` order):
    `(X (N, P), ids (N,), surface=None) -> (N, R)` for parameter rows X of the hands `ids`. Rows of each
    side go through that side's model in one batch; `surface` adds residuals on a few skinned vertices
    (all rows then belong to hands of one side)."""

    def __init__(
        self,
        fitter: HandFitter,
        sides: list[str],
        K: torch.Tensor,
        targets: _Targets,
        scales: _TermScales,
        lean: bool = False,
    ):
        self.fitter, self.K, self.targets, self.scales = fitter, K, targets, scales
        self.side_names = sorted(set(sides))
        self.side_index = torch.tensor([self.side_names.index(s) for s in sides])
        self.lean = lean  # keypoints from `fit.joints_forward` (the analytic Jacobian's forward)
        self._selectors: dict[int, tuple[np.ndarray, ...]] = {}
        self._np: dict | None = None
        # the last residual call's surface term, rows, hands, forward state and residuals, per side
        self._last: dict[str, tuple] = {}

    def __call__(self, X: torch.Tensor, ids: torch.Tensor, surface: SurfaceTerm | None = None) -> torch.Tensor:
        if self.lean and not X.requires_grad:
            return self._per_side(X, ids, lambda side, Xs, hs: self._lean_rows(side, Xs, hs, surface=surface)[0])
        return self._per_side(X, ids, lambda side, Xs, hs: self._side_rows(side, Xs, hs, surface))

    def reweight(self, X: torch.Tensor) -> None:
        """Robust 2D data term (`FitWeights.keypoint_kernel`): each joint's weight set from its
        sigma-normalised reprojection error at rows X (one per hand, in hand order), held fixed until the
        next call. The weights enter as a factor sqrt(w) on the keypoint residuals (lean and torch paths)."""
        w = self.fitter.weights
        t = self._numpy_targets()
        if "kp_weight_base" not in t:
            t["kp_weight_base"] = t["kp_weight"].copy()
            self._base_sigma = self.targets.sigma
        self._last.clear()  # cached residual rows carry the old weights
        t["kp_weight"] = t["kp_weight_base"]
        self.targets = replace(self.targets, sigma=self._base_sigma)
        with torch.no_grad():
            R = self(X, torch.arange(X.shape[0])).numpy()
        self._last.clear()
        base = t["kp_weight_base"]
        err_px = np.linalg.norm(R[:, :42].reshape(-1, 21, 2), axis=-1) / np.maximum(base, 1e-300)
        u = err_px / self.targets.sigma.numpy()
        weights = robust_keypoint_weights(u, w.keypoint_kernel, w.keypoint_kernel_scale)
        if w.keypoint_kernel_joints is not None:
            weights[:, np.setdiff1d(np.arange(21), np.asarray(w.keypoint_kernel_joints, dtype=int))] = 1.0
        sqrt_w = np.sqrt(weights)
        t["kp_weight"] = base * sqrt_w
        self.targets = replace(self.targets, sigma=self._base_sigma / torch.from_numpy(sqrt_w))

    def linearise(
        self, X: torch.Tensor, ids: torch.Tensor, surface: SurfaceTerm | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Residual rows (N, R) at parameter rows X (N, P) of hands `ids`, and their transposed Jacobian
        (N, P, R), exact (`fit.joints_forward`, `fit.derivatives`)."""
        if len(self.side_names) == 1:
            R, Jt = self._lean_rows(self.side_names[0], X, ids, True, surface)
            return R[:, 0], Jt
        both = self._per_side(
            X, ids, lambda side, Xs, hs: torch.cat(self._lean_rows(side, Xs, hs, True, surface), 1)
        )
        return both[:, 0], both[:, 1:]

    def _per_side(self, X: torch.Tensor, ids: torch.Tensor, rows_of: Callable) -> torch.Tensor:
        """rows_of(side, X_side, ids_side) for the rows of each side, back in the order of X."""
        if len(self.side_names) == 1:
            return rows_of(self.side_names[0], X, ids)
        out_rows = []
        for k, side in enumerate(self.side_names):
            rows = torch.nonzero(self.side_index[ids] == k).flatten()
            if rows.numel() == 0:
                continue
            out_rows.append((rows, rows_of(side, X[rows], ids[rows])))
        R = torch.zeros(X.shape[0], *out_rows[0][1].shape[1:], dtype=torch.float64)
        for rows, r in out_rows:
            R[rows] = r
        return R

    def _lean_rows(
        self,
        side: str,
        Xs: torch.Tensor,
        hs: torch.Tensor,
        jacobian: bool = False,
        surface: SurfaceTerm | None = None,
    ) -> tuple[torch.Tensor, ...]:
        """`_side_rows` (without surface terms) through the lean forward, in NumPy: (residual rows (N, R),),
        or with `jacobian` the rows as (N, 1, R) and the transposed Jacobian (N, P, R)."""
        t, c, f = self._numpy_targets(), self.scales, self.fitter
        layout = ParameterLayout.of_rows(Xs)
        x = Xs.detach().numpy()
        h = hs.numpy()
        N, P = x.shape
        go, ang = x[:, : layout.ORIENT], x[:, layout.angles].reshape(N, 15, 3)
        betas, log_s = x[:, layout.betas], x[:, layout.log_scales]
        chain = f.chains[side] if surface is None else f.surface_chain(side, surface.vertex_ids)
        kp_weight = t["kp_weight"][h]  # (N, 21)
        _, betas_sel, scales_sel, units = self._selector(layout)
        known = self._known_rows(side, surface, x, h) if jacobian else None
        if known is not None:  # the LM linearises at the trial point its last residual call accepted
            st, R = known
            pose = lean.pose_residuals(ang, f.rom, c.pose_tolerance_rad, True, dense=False)
        else:
            st = chain.forward(go, ang, betas, x[:, layout.transl], log_s)
            pose = lean.pose_residuals(ang, f.rom, c.pose_tolerance_rad, jacobian, dense=False)
            R = self._rows(st, x, h, layout, pose, surface)
            if not jacobian:
                self._last[side] = (surface, x.copy(), h.copy(), st, R)
        J, verts = st.points[:, :21], st.points[:, 21:]
        if not jacobian:
            return (torch.from_numpy(R),)
        K = t["K"]
        d_points = chain.jacobian(st, go, ang)  # (N, n, 3, P)
        dJ = d_points[:, :21]
        has_world = t["has_world"][h]
        d_pose = np.zeros((2, N, 45, P))  # the range terms depend on the angles only, joint by joint
        lean.place_blocks(d_pose[0, :, :, layout.angles], pose[2], c.pose)
        lean.place_blocks(d_pose[1, :, :, layout.angles], pose[3], c.pose_beyond_tolerance)
        d = [
            ((lean.projection_jacobian(J, K) @ dJ) * kp_weight[..., None, None]).reshape(N, 42, P),
            d_pose[0],
            c.world_term(lean.world_residuals_jacobian(J, dJ, t["world"][h], has_world)),
            np.broadcast_to(c.shape * betas_sel, (N, *betas_sel.shape)),
            np.broadcast_to(scales_sel, (N, *scales_sel.shape)),
            d_pose[1],
        ]
        if c.world_metric > 0:
            d.append(c.world_metric * dJ.reshape(N, 63, P) * has_world[:, None, None])
        if t["previous"] is not None:
            d.append(c.temporal * units * t["has_previous"][h, None, None])
        if surface is not None:
            gap = verts[:, surface.inner.numpy()] - verts[:, surface.nearest.numpy()]  # (N, k, 3)
            dist = np.sqrt((gap * gap).sum(-1))
            d_gap = d_points[:, 21:][:, surface.inner.numpy()] - d_points[:, 21:][:, surface.nearest.numpy()]
            unit = gap / np.maximum(dist, 1e-12)[..., None]
            active = (dist > surface.tolerance)[..., None]
            d.append(surface.scale * np.where(active, (unit[:, :, None] @ d_gap)[:, :, 0], 0.0))
        return torch.from_numpy(R)[:, None], torch.from_numpy(np.concatenate(d, 1).transpose(0, 2, 1))

    def _rows(
        self, st: ChainState, x: np.ndarray, h: np.ndarray, layout: ParameterLayout, pose: tuple, surface
    ) -> np.ndarray:
        """The residual rows (N, R) from the lean forward's state `st` at rows x of hands h."""
        t, c = self._numpy_targets(), self.scales
        N = x.shape[0]
        J, verts = st.points[:, :21], st.points[:, 21:]
        r = [
            ((lean.project(J, t["K"]) - t["keypoints"][h]) * t["kp_weight"][h][..., None]).reshape(N, -1),
            c.pose * pose[0],
            c.world_term(lean.world_residuals(J, t["world"][h], t["has_world"][h])),
            c.shape * x[:, layout.betas],
            x[:, layout.log_scales] / t["log_scale_sigma"],
            c.pose_beyond_tolerance * pose[1],
        ]
        if c.world_metric > 0:
            r.append(c.world_metric * (J - t["world"][h]).reshape(N, 63) * t["has_world"][h, None])
        if t["previous"] is not None:
            units = self._selector(layout)[3]
            r.append(c.temporal * (x * np.diagonal(units) - t["previous"][h]) * t["has_previous"][h, None])
        if surface is not None:
            gap = verts[:, surface.inner.numpy()] - verts[:, surface.nearest.numpy()]  # (N, k, 3)
            r.append(surface.scale * np.maximum(np.sqrt((gap * gap).sum(-1)) - surface.tolerance, 0.0))
        return np.concatenate(r, 1)

    def _known_rows(
        self, side: str, surface: SurfaceTerm | None, x: np.ndarray, h: np.ndarray
    ) -> tuple[ChainState, np.ndarray] | None:
        """The forward state and residual rows of rows x (hands h) if the last residual call of this side,
        with the same surface term, evaluated each of them (the LM linearises at the trial point it just
        accepted), else None."""
        last = self._last.get(side)
        if last is None or last[0] is not surface:
            return None
        _, rows, hands, st, R = last
        same = (rows[None] == x[:, None]).all(-1) & (hands[None] == h[:, None])  # (asked, evaluated)
        if not same.any(1).all():
            return None
        index = same.argmax(1)  # the first match of each row
        return ChainState(*(getattr(st, k.name)[index] for k in fields(ChainState))), R[index]

    def _numpy_targets(self) -> dict:
        """The targets and constant factors as NumPy arrays (float64), made once per fit."""
        if self._np is None:
            t, c = self.targets, self.scales
            self._np = {
                "K": self.K.numpy(),
                "keypoints": t.keypoints.numpy(),
                "kp_weight": (c.keypoints_2d / t.sigma * t.valid.to(torch.float64)).numpy(),
                "world": t.world.numpy(),
                "has_world": t.has_world.numpy().astype(np.float64),
                "previous": None if t.previous is None else t.previous.numpy(),
                "has_previous": t.has_previous.numpy().astype(np.float64),
                "log_scale_sigma": c.log_scale_sigma.numpy(),
            }
        return self._np

    def _selector(self, layout: ParameterLayout) -> tuple[np.ndarray, ...]:
        """Constant Jacobian parts of a layout: the angles' columns (45, P), the betas' (S, P), the log
        scales' divided by their sigma (16, P), and the temporal units' diagonal (P, P)."""
        if layout.size not in self._selectors:
            eye = np.eye(layout.size)
            units = np.diag(layout.temporal_units(torch.ones(1, layout.size, dtype=torch.float64))[0].numpy())
            self._selectors[layout.size] = (
                eye[layout.angles],
                eye[layout.betas],
                eye[layout.log_scales] / self.scales.log_scale_sigma[:, None].numpy(),
                units,
            )
        return self._selectors[layout.size]

    def _side_rows(self, side: str, Xs: torch.Tensor, hs: torch.Tensor, surface: SurfaceTerm | None) -> torch.Tensor:
        """Residual rows of hands hs of one side, parameter rows Xs."""
        t, c, f = self.targets, self.scales, self.fitter
        vids = None if surface is None else surface.vertex_ids
        out = f.models[side](**f._inputs(side, Xs), skin_mesh=False, vertex_ids=vids)
        J = out.joints
        layout = ParameterLayout.of_rows(Xs)
        _, ang, betas, _, log_s = layout.split(Xs)
        viol, beyond = pose_residuals(ang, f.rom, c.pose_tolerance_rad)
        r = [
            c.keypoints_2d * keypoint_residuals(project_points(J, self.K), t.keypoints[hs], t.sigma[hs], t.valid[hs]),
            c.pose * viol,
            c.world_term(world_residuals(J, t.world[hs], t.has_world[hs])),
            c.shape * betas,
            log_s / c.log_scale_sigma,
            c.pose_beyond_tolerance * beyond,
        ]
        if c.world_metric > 0:
            r.append(c.world_metric * metric_world_residuals(J, t.world[hs], t.has_world[hs]))
        if t.previous is not None:
            r.append(c.temporal * (layout.temporal_units(Xs) - t.previous[hs]) * t.has_previous[hs, None].to(Xs.dtype))
        if surface is not None:
            r.append(surface.residuals(out.vertices))
        return torch.cat(r, 1)


def _double_copy(model):
    import copy

    return copy.deepcopy(model).double()
