"""Two interacting hands, built the way the interaction-prior paper (sec. 3.4) builds its two-hand data:
single-hand poses are spliced into a close relative placement, and the penetration this creates is resolved by
optimisation.

Splicing: the left hand gets a pose of its own (drawn like any single hand) and a placement relative to
the right hand from an interaction template (palms facing, fingers interlaced, one hand on the back of
the other, one holding the other's fingers, side by side, crossed, or random), jittered, then slid along
the template's direction until the two meshes are a drawn gap apart; negative gaps overlap them, as
tangled hands spliced from separate captures do.

Resolving: the left hand's rigid placement (rotation about its centre and translation) minimises the
two-hand penetration loss of `handrecon.priors.penetration` plus a quadratic pull towards the spliced
placement, with Adam, stopping as soon as the penetration depth is within the tolerance. Should the
optimisation stall, the hands are moved apart along the splice direction by bisection on the depth, so
every returned placement meets the tolerance.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from handrecon.geometry.rotations import (
    axis_angle_to_matrix,
    axis_rotation,
    frame_from_axes,
    matrix_to_axis_angle,
    random_rotation,
)
from handrecon.priors.penetration import two_hand_penetration

# name: (weight, relative orientation of the left hand in the right hand's frame, direction of the left hand)
# in the right hand's canonical frame (x radial, y distal, z palmar).
TEMPLATES: dict[str, tuple[float, Callable[[np.random.Generator], np.ndarray], np.ndarray]] = {
    "palms_facing": (
        0.2,
        lambda r: frame_from_axes(np.array([0.0, 1, 0]), np.array([0.0, 0, -1])),
        np.array([0.0, 0, 1]),
    ),
    "interlaced": (
        0.15,
        lambda r: (
            axis_rotation(np.array([0.0, 0, 1]), r.choice([-1, 1]) * r.uniform(0.6, 1.6))
            @ frame_from_axes(np.array([0.0, 1, 0]), np.array([0.0, 0, -1]))
        ),
        np.array([0.0, 0.35, 1]),
    ),
    "stacked": (
        0.15,
        lambda r: axis_rotation(np.array([0.0, 0, 1]), r.uniform(-1.6, 1.6)),
        np.array([0.0, 0, -1]),
    ),
    "holding_fingers": (
        0.1,
        lambda r: frame_from_axes(np.array([1.0, 0, 0]) * r.choice([-1, 1]), np.array([0.0, -1, 0.3])),
        np.array([0.0, 1, 0.4]),
    ),
    "side_by_side": (0.15, lambda r: np.eye(3), np.array([1.0, 0, 0])),
    "crossed": (
        0.1,
        lambda r: (
            axis_rotation(np.array([0.0, 0, 1]), r.uniform(1.0, 2.1))
            @ frame_from_axes(np.array([0.0, 1, 0]), np.array([0.0, 0, r.choice([-1.0, 1.0])]))
        ),
        np.array([0.0, 0.2, 1]),
    ),
    "random": (0.15, random_rotation, np.zeros(3)),
}
GAP_M = (-0.012, 0.02)
PULL_TRANSLATION_M = 0.01  # scale of the pull towards the spliced placement
PULL_ROTATION_RAD = 0.15
MAX_STEPS = 25
LEARNING_RATE = 0.002


def _min_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.cdist(a, b).amin())


def splice(
    rng: np.random.Generator,
    right: np.ndarray,
    left0: np.ndarray,
    R: np.ndarray,
    orientation_ok: Callable[[np.ndarray], bool] | None = None,
    tries: int = 10,
) -> tuple[str, np.ndarray, np.ndarray, np.ndarray]:
    """Relative placement of the left hand: template name, its rotation in the camera frame (to apply to
    the left hand about its centre), the translation of its centre, and the splice direction (unit).

    right (V, 3): the placed right hand; left0 (V, 3): the left hand already rotated by the right hand's
    global rotation R (only its relative rotation is new here). `orientation_ok` may veto the left hand's
    resulting global rotation (head-mounted views want both forearms coming from below); the template is
    redrawn up to `tries` times.
    """
    names = list(TEMPLATES)
    w = np.array([TEMPLATES[n][0] for n in names])
    for _ in range(tries):
        name = names[int(rng.choice(len(names), p=w / w.sum()))]
        _, orient, direction = TEMPLATES[name]
        rel = orient(rng) @ axis_rotation(rng.standard_normal(3), rng.normal(0, 0.25))
        if orientation_ok is None or orientation_ok(R @ rel):
            break
    d_local = direction + rng.normal(0, 0.3, 3)
    if np.linalg.norm(d_local) < 1e-3 or name == "random":
        d_local = rng.standard_normal(3)
    d = R @ (d_local / np.linalg.norm(d_local))
    rot = R @ rel @ R.T  # relative rotation expressed in the camera frame
    c_left = left0.mean(0)
    left = (left0 - c_left) @ rot.T
    c_right = right.mean(0)
    sub = slice(None, None, 3)
    a = torch.as_tensor(right[sub])
    gap = rng.uniform(*GAP_M)
    target = max(gap, 0.002)
    lo, hi = 0.0, 0.4
    for _ in range(20):  # bisection on the distance along d: min vertex distance = target
        s = (lo + hi) / 2
        if _min_distance(a, torch.as_tensor(left[sub] + c_right + d * s)) < target:
            lo = s
        else:
            hi = s
    s = hi + min(gap, 0.0)
    return name, rot, c_right + d * s - c_left, d


class TwoHandResolver:
    """Splices a left hand to a placed right hand and resolves their penetration (see module docstring)."""

    def __init__(self, models: dict, tolerance: float) -> None:
        self.models = models
        self.tolerance = tolerance

    def _left_vertices(self, p: dict, R: np.ndarray) -> torch.Tensor:
        model = self.models["left"]
        go = matrix_to_axis_angle(torch.as_tensor(R, dtype=torch.float64)[None]).to(model.dtype)
        with torch.no_grad():
            return model(global_orient=go, hand_pose=p["hand_pose"][None], betas=p["betas"][None]).vertices[0].double()

    def _penetration(self, right: torch.Tensor, left: torch.Tensor) -> tuple[torch.Tensor, float]:
        """Two-hand penetration loss (differentiable in `left`) and depth (metres)."""
        pen = two_hand_penetration(right[None].float(), left[None].float(), self.models["right"], self.models["left"])
        depth = max(float(pen.distance_a.detach().max()), float(pen.distance_b.detach().max()), 0.0)
        return pen.distance_a.sum() + pen.distance_b.sum(), depth

    def _depth(self, right: torch.Tensor, left: torch.Tensor) -> float:
        with torch.no_grad():
            return self._penetration(right, left)[1]

    def __call__(
        self,
        poses: list[dict],
        R: np.ndarray,
        right_vertices: np.ndarray,
        rng: np.random.Generator,
        orientation_ok: Callable[[np.ndarray], bool] | None = None,
    ) -> tuple[np.ndarray, np.ndarray, float, str]:
        """Rotation R2 of the left hand, translation of its mesh, final penetration depth, template name."""
        left0 = self._left_vertices(poses[1], R).numpy()
        name, rot, shift, direction = splice(rng, right_vertices, left0, R, orientation_ok)
        right = torch.as_tensor(right_vertices)
        base = torch.as_tensor((left0 - left0.mean(0)) @ rot.T)
        centre0 = torch.as_tensor(left0.mean(0) + shift)
        dt = torch.zeros(3, dtype=torch.float64, requires_grad=True)
        dr = torch.zeros(3, dtype=torch.float64, requires_grad=True)

        def placed() -> torch.Tensor:
            return base @ axis_angle_to_matrix(dr[None])[0].T + centre0 + dt

        opt = torch.optim.Adam([dt, dr], lr=LEARNING_RATE)
        for _ in range(MAX_STEPS):
            loss, depth = self._penetration(right, placed())
            if depth <= self.tolerance:
                break
            pull = (dt**2).sum() / PULL_TRANSLATION_M**2 + (dr**2).sum() / PULL_ROTATION_RAD**2
            opt.zero_grad()
            (loss + 1e-3 * pull).backward()
            opt.step()
        with torch.no_grad():
            left = placed()
            depth = self._depth(right, left)
            if depth > self.tolerance:  # move apart along the splice direction until clear
                d = torch.as_tensor(direction)
                lo, hi = 0.0, 0.02
                while self._depth(right, left + d * hi) > self.tolerance:
                    lo, hi = hi, hi * 2
                for _ in range(8):
                    mid = (lo + hi) / 2
                    if self._depth(right, left + d * mid) > self.tolerance:
                        lo = mid
                    else:
                        hi = mid
                left = left + d * hi
                depth = self._depth(right, left)
            R_delta = axis_angle_to_matrix(dr.detach()[None])[0].numpy()
        R2 = R_delta @ rot @ R
        # Translation taking the model's own placement of the left hand (rotation R2 about its wrist) onto `left`.
        offset = (left.numpy() - self._left_vertices(poses[1], R2).numpy()).mean(0)
        return R2, offset, depth, name
