"""Rendering a scene: one z-buffer for the hands, their forearms and the occluders, skin shading,
anti-aliased compositing over the background.

The scene mesh always has the same layout (right hand, left hand, right arm, left arm, occluder 0,
occluder 1) so that its face table is fixed; absent objects are moved behind the camera, where the
rasterizer drops them. All textures of a sample share one atlas: the hand's skin on the left half, and on
the right half horizontal cells: occluder 0, occluder 1, the right sleeve, the left sleeve, the forearms' skin.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as Fnn

from handrecon.geometry.camera import PerspectiveCamera
from handrecon.geometry.mesh import vertex_normals
from handrecon.io.colour import linear_to_srgb, srgb_to_linear
from handrecon.render.filters import filter_taps
from handrecon.render.interpolate import face_corner_attributes
from handrecon.render.rasterize import rasterize
from handrecon.render.sampling import sample_texture
from handrecon.synth.appearance.skin_shading import WRAP_RGB, screen_space_ao, shade_pixels
from handrecon.synth.scene.forearm import ForearmTopology
from handrecon.synth.scene.occluders import VERTICES, fan_faces, fan_uv
from handrecon.synth.scene.sampler import Scene

MAX_OCCLUDERS = 2
# Object ids of the label map.
BACKGROUND, PRIMARY, SECOND, OCCLUDER, PRIMARY_ARM, SECOND_ARM = 0, 1, 2, 3, 4, 5
HAND_SLOTS = ("right", "left")  # mesh slots 0, 1 (hands) and 2, 3 (their arms); 4 + k occluder k
CELLS = 5  # atlas cells on the right half: occluder 0, occluder 1, right sleeve, left sleeve, forearm skin
SLEEVE_CELL = {"right": 2, "left": 3}
ARM_SKIN_CELL = 4


def cell_rect(k: int, texture_size: int) -> tuple[float, float, float, float]:
    """(u0, u1, v0, v1) of atlas cell k (right half, cell 0 at the top, S // CELLS texel rows each), inset
    by one texel so that bilinear lookups stay inside the cell."""
    S = texture_size
    h = S // CELLS
    v1 = 1.0 - (k * h + 1) / S
    v0 = 1.0 - ((k + 1) * h - 1) / S
    return 0.5 + 1.0 / (2 * S), 1.0 - 1.0 / (2 * S), v0, v1


@dataclass
class Rendering:
    """image: (3, H, W) sRGB in [0, 1] before camera effects; depth: (H, W) metres (0 on background);
    objects: (H, W) uint8 label map (see the object ids above)."""

    image: torch.Tensor
    depth: torch.Tensor
    objects: torch.Tensor


class SceneRenderer:
    """Renders scenes for a pair of hand models (right, left) sharing one UV layout."""

    def __init__(self, models: dict, forearms: dict[str, ForearmTopology], size: int, texture_size: int) -> None:
        self.size = size
        self.forearms = forearms
        right, left = models["right"], models["left"]
        V = right.num_vertices
        A = forearms["right"].num_vertices
        self.hand_vertices, self.arm_vertices = V, A
        occ = fan_faces()
        arm_start = 2 * V
        occ_start = 2 * V + 2 * A
        # Open hand surfaces: the forearm closes the wrist (the cap faces would bend the wrist's normals).
        blocks = [right.faces.long(), left.faces.long() + V]
        blocks += [forearms[s].faces(i * V, arm_start + i * A) for i, s in enumerate(HAND_SLOTS)]
        blocks += [occ + occ_start + k * VERTICES for k in range(MAX_OCCLUDERS)]
        self.faces = torch.cat(blocks)
        self.face_slot = torch.cat([torch.full((b.shape[0],), i) for i, b in enumerate(blocks)])
        half = torch.tensor([0.5, 1.0])
        self.hand_uv = [
            face_corner_attributes(m.uv.float(), m.faces_uv[: m.num_faces].long()) * half for m in (right, left)
        ]
        fan = face_corner_attributes(fan_uv().float(), occ)
        self.occ_uv = []
        for k in range(MAX_OCCLUDERS):
            u0, u1, v0, v1 = cell_rect(k, texture_size)
            self.occ_uv.append(torch.stack([u0 + (u1 - u0) * fan[..., 0], v0 + (v1 - v0) * fan[..., 1]], -1))
        self.arm_uv = {
            (s, sleeve): forearms[s].corner_uv(
                sleeve, cell_rect(ARM_SKIN_CELL, texture_size), cell_rect(SLEEVE_CELL[s], texture_size)
            )
            for s in HAND_SLOTS
            for sleeve in (False, True)
        }
        wrap = torch.tensor(WRAP_RGB)
        self.face_wrap = torch.where((self.face_slot < 4)[:, None], wrap, torch.zeros(3))

    # ------------------------------------------------------------------------------------------
    def _assemble(self, scene: Scene) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Scene vertices (N, 3), per-face-corner atlas UVs (F, 3, 2), atlas (4, S, 2S), slot labels (6,)."""
        V, A = self.hand_vertices, self.arm_vertices
        hidden = torch.tensor([0.0, 0.0, -1.0])
        hands = [hidden.expand(V, 3)] * 2
        arms = [hidden.expand(A, 3)] * 2
        sleeves = [False, False]
        label = torch.zeros(4 + MAX_OCCLUDERS, dtype=torch.uint8)
        for i, h in enumerate(scene.hands):
            slot = HAND_SLOTS.index(h.side)
            if label[slot] != BACKGROUND:
                raise ValueError("a scene holds at most one right and one left hand")
            hands[slot] = torch.as_tensor(h.vertices, dtype=torch.float32)
            label[slot] = PRIMARY if i == 0 else SECOND
            if h.arm is not None:
                arms[slot] = torch.as_tensor(h.arm.vertices, dtype=torch.float32)
                sleeves[slot] = h.arm.sleeve
                label[2 + slot] = PRIMARY_ARM if i == 0 else SECOND_ARM
        S = scene.skin_texture.shape[-1]
        h = S // CELLS
        cells = torch.zeros(4, S, S)
        occ = [hidden.expand(VERTICES, 3)] * MAX_OCCLUDERS
        for k, o in enumerate(scene.occluders[:MAX_OCCLUDERS]):
            occ[k] = torch.as_tensor(o.vertices, dtype=torch.float32)
            t = Fnn.interpolate(o.texture[None], size=(h, S), mode="bilinear", align_corners=False)[0]
            cells[:, k * h : (k + 1) * h] = torch.cat([srgb_to_linear(t[:3]), t[3:]])
            label[4 + k] = OCCLUDER
        sleeve = Fnn.interpolate(scene.sleeve_texture[None], size=(h, S), mode="bilinear", align_corners=False)[0]
        sleeve = torch.cat([srgb_to_linear(sleeve), torch.full((1, h, S), 0.1)])
        for s in HAND_SLOTS:
            k = SLEEVE_CELL[s]
            cells[:, k * h : (k + 1) * h] = sleeve
        arm = Fnn.interpolate(scene.arm_texture[None], size=(h, S), mode="bilinear", align_corners=False)[0]
        cells[:, ARM_SKIN_CELL * h : (ARM_SKIN_CELL + 1) * h] = arm
        verts = torch.cat([*hands, *arms, *occ])
        corner_uv = torch.cat(
            [*self.hand_uv, *(self.arm_uv[(s, sleeves[i])] for i, s in enumerate(HAND_SLOTS)), *self.occ_uv]
        )
        atlas = torch.cat([scene.skin_texture, cells], -1)
        return verts, corner_uv, atlas, label

    @torch.no_grad()
    def render(self, scene: Scene) -> Rendering:
        S = self.size
        verts, corner_uv, atlas, label = self._assemble(scene)
        camera = PerspectiveCamera(torch.as_tensor(scene.K, dtype=torch.float32), S, S)
        # Only the objects present in this scene; every surface is closed and outward-facing (hand +
        # forearm) or a sheet wound towards the camera (occluders): back faces are never the visible ones,
        # so they are skipped (half the work).
        present = (label[self.face_slot] != BACKGROUND).nonzero().squeeze(1)
        faces = self.faces[present]
        frags = rasterize(verts[None], faces, camera, cull_backfaces=True)
        face, bary = present[frags.fg_face], frags.fg_bary
        slot = self.face_slot[face]
        objects = torch.zeros(S * S, dtype=torch.uint8)
        objects[frags.fg_pixel] = label[slot]

        w = bary[:, :, None]
        uv = (corner_uv[face] * w).sum(1)
        tex = sample_texture(atlas[None], uv[None])[0]
        # Normals and positions in one gather: (n, 3 corners, 6) weighted by the barycentrics.
        attrs = torch.cat([vertex_normals(verts, faces), verts], 1)[self.faces[face]]
        interp = (attrs * w).sum(1)
        n, points = Fnn.normalize(interp[:, :3], dim=-1), interp[:, 3:]
        depth, mask = frags.depth[0], frags.mask[0]
        ao = screen_space_ao(depth[None], mask[None], radius=max(2, S // 40))[0].reshape(-1)[frags.fg_pixel]
        batch = torch.zeros_like(face)
        lin = shade_pixels(tex[:, :3], tex[:, 3], n, points, scene.lighting[None], batch, ao, wrap=self.face_wrap[face])
        fg = torch.zeros(S * S, 3)
        fg[frags.fg_pixel] = linear_to_srgb(lin)
        fg = fg.view(S, S, 3).permute(2, 0, 1)
        image = composite(fg, mask, scene.background)
        return Rendering(image=image, depth=depth, objects=objects.view(S, S))


def composite(fg: torch.Tensor, mask: torch.Tensor, background: torch.Tensor) -> torch.Tensor:
    """Foreground (3, H, W) over background with anti-aliased edges.

    The hard z-buffer decides coverage at pixel centres only; a [1, 2, 1] / 4 tent filter of the
    premultiplied foreground and of its coverage approximates partial coverage along the outline, where
    it replaces the hard edge (interior and background pixels keep their exact values).
    """
    a = mask.to(fg.dtype)[None]
    both = torch.cat([fg * a, a])[None]
    tent = [(-1, 0.25), (0, 0.5), (1, 0.25)]
    soft = filter_taps(filter_taps(both, [(0, d, w) for d, w in tent]), [(d, 0, w) for d, w in tent])[0]
    alpha = soft[3:4]
    edge = (alpha > 0) & (alpha < 1)
    blended = soft[:3] + (1 - alpha) * background
    hard = torch.where(mask[None], fg, background)
    return torch.where(edge, blended, hard)
