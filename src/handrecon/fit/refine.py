"""Refinement of hand-model parameters by minimising the knowledge-prior energy (`fit.energy`).

Each hand's sum-of-squares energy is minimised by Levenberg-Marquardt (`fit.lm`, all hands of an image
in one batch, each with the model of its side). When a result penetrates itself or the other hand, a
short L-BFGS stage adds the non-penetration terms, which are not sums of squares. The pose is
parameterised by the anatomical Euler angles of `handrecon.hand.anatomy`, in which the pose-limit prior
is a box.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from handrecon.fit.energy import FitWeights, keypoint_residuals, pose_residuals, sqrt2_weight, world_residuals
from handrecon.fit.initialize import HandParams
from handrecon.fit.lm import levenberg_marquardt
from handrecon.geometry.camera import project_points
from handrecon.hand.anatomy import Anatomy
from handrecon.hand.rom import range_of_motion


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


@dataclass(frozen=True)
class FitSettings:
    iterations: int = 12
    penetration_iterations: int = 20
    # The penetration stage runs when a hand is deeper than this inside itself or the other hand (metres).
    penetration_trigger: float = 0.006
    min_sigma_px: float = 0.5


PenetrationFn = Callable[[torch.Tensor, str], torch.Tensor]  # (B, V, 3) vertices, side -> (B,) loss
PairPenetrationFn = Callable[[torch.Tensor, torch.Tensor, str, str], torch.Tensor]


class HandFitter:
    """Fits hand-model parameters to per-hand observations in one image (see module docstring)."""

    def __init__(
        self,
        models: dict,
        weights: FitWeights | None = None,
        settings: FitSettings | None = None,
        penetration: PenetrationFn | None = None,
        two_hand_penetration: PairPenetrationFn | None = None,
        penetration_depth: PenetrationFn | None = None,
        two_hand_penetration_depth: PairPenetrationFn | None = None,
    ) -> None:
        # Fitting runs in float64: finite-difference Jacobians and Gauss-Newton steps need the precision.
        self.models = {side: m if m.dtype == torch.float64 else _double_copy(m) for side, m in models.items()}
        self.anatomy = {side: Anatomy.from_hand_model(m) for side, m in self.models.items()}
        self.rom = range_of_motion(torch.float64)
        self.weights = weights or FitWeights()
        self.settings = settings or FitSettings()
        self.penetration = penetration
        self.two_hand_penetration = two_hand_penetration
        self.penetration_depth = penetration_depth
        self.two_hand_penetration_depth = two_hand_penetration_depth

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
        # Start inside the ranges of motion: the initial pose comes from unconstrained inverse kinematics.
        ang0 = x0[:, 3:48].reshape(-1, 15, 3)
        x0[:, 3:48] = torch.maximum(torch.minimum(ang0, self.rom[..., 1]), self.rom[..., 0]).reshape(-1, 45)
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

        def residuals(X: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
            out_rows = []
            for side in set(sides):
                rows = torch.nonzero(torch.tensor([sides[int(i)] == side for i in ids])).flatten()
                if rows.numel() == 0:
                    continue
                Xs, hs = X[rows], ids[rows]
                J = self._joints(side, Xs)
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
                out_rows.append((rows, torch.cat(r, 1)))
            R = torch.zeros(X.shape[0], out_rows[0][1].shape[1], dtype=f64)
            for rows, r in out_rows:
                R[rows] = r
            return R

        x, _ = levenberg_marquardt(residuals, x0, iterations=self.settings.iterations)
        x = self._penetration_stage(x, sides, residuals)
        with torch.no_grad():
            terms = self._terms(x, sides, residuals)
        results = []
        for i, o in enumerate(observations):
            inp = self._inputs(o.side, x[i : i + 1])
            params = HandParams(inp["global_orient"], inp["hand_pose"], inp["betas"], inp["transl"], inp["bone_scales"])
            results.append(FitResult(params, self._split(x[i : i + 1])[1][0], terms[i]))
        return results

    # -------------------------------------------------------------------------------------------
    def _vertices(self, side: str, x: torch.Tensor) -> torch.Tensor:
        return self.models[side](**self._inputs(side, x)).vertices

    def _penetration_stage(self, x: torch.Tensor, sides: list[str], residuals) -> torch.Tensor:
        """If a hand penetrates itself or the other hand, continue on the whole energy (least-squares terms
        and non-penetration terms) with L-BFGS."""
        n = len(sides)
        pair = n == 2 and sides[0] != sides[1] and self.two_hand_penetration is not None
        if (self.penetration is None and not pair) or self.settings.penetration_iterations <= 0:
            return x
        trigger = self.settings.penetration_trigger
        with torch.no_grad():
            verts = [self._vertices(sides[i], x[i : i + 1]) for i in range(n)]
            need = (
                self.penetration is not None
                and self.penetration_depth is not None
                and any(bool(self.penetration_depth(verts[i], sides[i]).max() > trigger) for i in range(n))
            )
            need_pair = (
                pair
                and self.two_hand_penetration_depth is not None
                and bool(self.two_hand_penetration_depth(verts[0], verts[1], sides[0], sides[1]).max() > trigger)
            )
        if not (need or need_pair):
            return x
        var = x.detach().clone().requires_grad_(True)
        w = self.weights
        ids = torch.arange(n)
        opt = torch.optim.LBFGS([var], max_iter=self.settings.penetration_iterations, line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            vs = [self._vertices(sides[i], var[i : i + 1]) for i in range(n)]
            e = 0.5 * residuals(var, ids).square().sum()
            if need:
                e = e + w.penetration * sum(self.penetration(vs[i], sides[i]).sum() for i in range(n))
            if need_pair:
                e = e + w.two_hand * self.two_hand_penetration(vs[0], vs[1], sides[0], sides[1]).sum()
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


def _double_copy(model):
    import copy

    return copy.deepcopy(model).double()
