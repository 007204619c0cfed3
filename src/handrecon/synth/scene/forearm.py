"""A forearm continuing the hand at the wrist, optionally in a sleeve.

Hands cut off at the wrist look like nothing a camera sees, and detectors look for the arm as context. The
forearm is a tube extruded from the hand mesh's wrist opening (its boundary loop, which moves rigidly with
the global orientation): it leaves the wrist along the hand's proximal axis, bent by a random wrist
flexion / deviation, and widens towards the elbow. A sleeve, when present, starts a few centimetres up
the arm as a slightly wider tube (the step between the two rings is the cuff).

The tube's ring 0 is the wrist loop itself (hand vertices), so hand and arm join without a seam.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from handrecon.geometry.topology import boundary_loops

# Distances of the rings from the wrist (metres); rings 3 and 4 share the cuff position (drawn per arm), the
# step between them is the sleeve's cuff (zero-area for a bare arm).
RING_T = (0.0, 0.012, 0.03, None, None, 0.10, 0.16, 0.22, 0.28)
CUFF_RING = 4  # first ring that belongs to the sleeve when there is one
CUFF_T = (0.035, 0.09)
WRIST_FLEXION_DEG = (-60.0, 60.0)
WRIST_DEVIATION_DEG = (-25.0, 15.0)


@dataclass
class ArmGeometry:
    """Camera-frame arm vertices (rings 1.. plus the end cap centre) and where the sleeve starts."""

    vertices: np.ndarray  # (ARM_VERTICES, 3)
    sleeve: bool


class ForearmTopology:
    """Vertex and face layout of the forearm of one hand model (fixed for every sample)."""

    def __init__(self, model) -> None:
        faces = model.faces.cpu().numpy()
        loops = boundary_loops(faces)
        if len(loops) != 1:
            raise ValueError(f"expected one boundary loop (the wrist) on the {model.name} mesh, got {len(loops)}")
        # The same vertex order on both sides (the left model mirrors the right and reverses its loops):
        # start at the lowest vertex id, continue towards its lower-id neighbour.
        loop = np.roll(loops[0], -int(np.argmin(loops[0])))
        if loop[1] > loop[-1]:
            loop = np.concatenate([loop[:1], loop[1:][::-1]])
        self.loop = torch.as_tensor(loop, dtype=torch.long)
        L = len(self.loop)
        self.loop_size = L
        # How much each loop vertex faces the palm's side (0..1): the inner forearm is a little lighter.
        from handrecon.geometry.mesh import vertex_normals

        n = vertex_normals(model.v_template.detach().cpu().double(), model.faces.cpu())[self.loop]
        self.loop_palmar = ((n[:, 2] + 0.2) / 0.8).clamp(0, 1).float()
        self.rings = len(RING_T)
        self.num_vertices = (self.rings - 1) * L + 1  # rings 1.. and the cap centre
        self._faces_local = self._tube_faces(L)
        # Orientation: boundary loops follow the faces' orientation; the tube must continue the surface,
        # which reverses the loop direction for the first band. Decide once from the rest mesh.
        self._flip = self._needs_flip(model)

    def _tube_faces(self, L: int) -> torch.Tensor:
        """Faces in local indices: ring r vertex i is r * L + i (ring 0 = the loop), cap centre last."""
        faces = []
        for r in range(self.rings - 1):
            for i in range(L):
                j = (i + 1) % L
                a, b, c, d = r * L + i, r * L + j, (r + 1) * L + i, (r + 1) * L + j
                faces += [(a, c, b), (b, c, d)]
        centre = self.rings * L
        last = (self.rings - 1) * L
        faces += [(last + i, centre, last + (i + 1) % L) for i in range(L)]
        return torch.tensor(faces, dtype=torch.long)

    def _needs_flip(self, model) -> bool:
        v = model.v_template.detach().cpu().double()
        arm = self._build(v[self.loop].numpy(), np.eye(3), 0.0, 0.0, 1.0, 0.06, 0.0, False)
        local = torch.cat([v[self.loop], torch.as_tensor(arm)])
        f = self._faces_local[: self.loop_size * 2 * 2]  # first two bands
        tri = local[f]
        n = torch.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0], dim=-1)
        centre = local[: self.loop_size].mean(0)
        radial = tri.mean(1) - centre
        radial[:, 1] = 0.0  # the arm runs along -y in the rest frame
        return bool(((n * radial).sum(-1) < 0).float().mean() > 0.5)

    def faces(self, loop_offset: int, arm_offset: int) -> torch.Tensor:
        """Faces in scene indices: the loop's hand vertices start at `loop_offset` (+ loop ids), the arm's
        own vertices at `arm_offset`."""
        L = self.loop_size
        f = self._faces_local
        ring0 = f < L
        hand_idx = loop_offset + self.loop.to(f.device)[f.clamp(max=L - 1)]
        out = torch.where(ring0, hand_idx, arm_offset + f - L)
        return out[:, [0, 2, 1]] if self._flip else out

    def corner_uv(
        self, sleeve: bool, skin_cell: tuple[float, float, float, float], sleeve_cell: tuple[float, float, float, float]
    ) -> torch.Tensor:
        """(F_arm, 3, 2) UVs into the texture atlas: the arm-skin cell along the bare arm, the sleeve cell
        from the cuff on. A cell (u0, u1, v0, v1) is wrapped around the arm (u) and runs along it (v), the
        wrist at v0; the faces closing the loop reach u1 rather than jumping back to u0.
        """
        L = self.loop_size
        f = self._faces_local
        ring = torch.div(torch.arange(self.rings * L + 1), L, rounding_mode="floor").clamp(max=self.rings - 1)
        around = (torch.arange(self.rings * L + 1) % L).float()[f] / L  # (F, 3)
        seam = (around == 0) & (around.amax(-1, keepdim=True) > 0.5)
        around = torch.where(seam, torch.ones_like(around), around)
        along = ring[f].float() / (self.rings - 1)

        def in_cell(cell: tuple[float, float, float, float]) -> torch.Tensor:
            u0, u1, v0, v1 = cell
            return torch.stack([u0 + (u1 - u0) * around, v0 + (v1 - v0) * along], -1)

        uv = in_cell(skin_cell)
        if sleeve:
            # Faces whose three corners all lie on the cuff ring or beyond wear the sleeve.
            on_sleeve = (ring[f] >= CUFF_RING).all(-1)
            uv = torch.where(on_sleeve[:, None, None], in_cell(sleeve_cell), uv)
        return uv[:, [0, 2, 1]] if self._flip else uv

    def _build(
        self,
        loop_points: np.ndarray,
        R: np.ndarray,
        flexion: float,
        deviation: float,
        widen: float,
        cuff_t: float,
        sleeve_gap: float,
        sleeve: bool,
        reach: float = 1.0,
    ) -> np.ndarray:
        """Arm vertices (camera frame) for a wrist loop (L, 3) and the hand's global rotation R."""
        c = loop_points.mean(0)
        cf, sf, cd, sd = math.cos(flexion), math.sin(flexion), math.cos(deviation), math.sin(deviation)
        local = np.array([[1, 0, 0], [0, cf, -sf], [0, sf, cf]]) @ np.array([[cd, -sd, 0], [sd, cd, 0], [0, 0, 1]])
        direction = R @ local @ np.array([0.0, -1.0, 0.0])
        hand_axis = R @ np.array([0.0, -1.0, 0.0])
        rel = loop_points - c
        flat = rel - np.outer(rel @ direction, direction)
        out = []
        for r, t in enumerate(RING_T[1:], start=1):
            t = cuff_t if t is None else (t if r <= CUFF_RING else CUFF_T[1] + (t - CUFF_T[1]) * reach)
            blend = min(1.0, t / 0.03)
            # Bend gradually: the first centimetres follow the hand's axis, then the forearm's.
            axis = hand_axis * (1 - blend) + direction * blend
            centre = c + axis / np.linalg.norm(axis) * t
            scale = 1.0 + (widen - 1.0) * min(t / 0.2, 1.0)
            if sleeve and r >= CUFF_RING:
                scale += sleeve_gap / max(np.linalg.norm(flat, axis=1).mean(), 1e-3)
            out.append(centre + ((1 - blend) * rel + blend * flat) * scale)
        end = np.asarray(out[-1])
        return np.concatenate([*out, end.mean(0, keepdims=True)])

    def random_arm(
        self,
        rng: np.random.Generator,
        loop_points: np.ndarray,
        R: np.ndarray,
        penalty: Callable[[np.ndarray], float] | None = None,
        tries: int = 12,
        reach: float = 1.0,
    ) -> ArmGeometry:
        """Arm of a placed hand: loop_points (L, 3) camera-frame wrist loop, R (3, 3) global rotation.

        `penalty` scores a candidate's vertices (0 = acceptable: e.g. nothing behind the camera, no
        collision with the other hand); the first acceptable of `tries` candidates is kept, else the least
        penalised. `reach` scales the length of the arm beyond the cuff.
        """
        best, best_score = None, float("inf")
        for _ in range(tries):
            flexion = math.radians(rng.uniform(*WRIST_FLEXION_DEG))
            deviation = math.radians(rng.uniform(*WRIST_DEVIATION_DEG))
            sleeve = rng.random() < 0.45
            widen, cuff_t, gap = rng.uniform(1.1, 1.35), rng.uniform(*CUFF_T), rng.uniform(0.004, 0.012)
            verts = self._build(loop_points, R, flexion, deviation, widen, cuff_t, gap, sleeve, reach)
            score = 0.0 if penalty is None else penalty(verts)
            if score < best_score:
                best, best_score = ArmGeometry(verts, sleeve), score
            if score == 0.0:
                break
        assert best is not None
        return best
