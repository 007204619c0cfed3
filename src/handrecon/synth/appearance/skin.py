"""Procedural skin textures in the hand's UV layout: skin tones, palm/dorsum contrast, knuckles, creases, nails.

Everything anatomical is derived once per hand model from the rest mesh: each texel of the UV layout is
mapped to its rest-pose surface point and normal, then classified by the anatomical frame of the bone that
carries it (palmar vs dorsal side), its distance to the finger joints (knuckles on the back, flexion creases
on the front) and the fingernail mask (`assets/openhand_nails.png`, MakeHuman's CC0 nail layout resampled
into this UV layout by tools/build_hand_model.py). A sample's texture is then a cheap combination: a skin
tone, its palm and knuckle variants, and noise fields from a fixed bank (blotches, pores, freckles).

Colours are linear RGB albedos in [0, 1]; the renderer shades in linear light and encodes sRGB at the end.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import numpy as np
import torch
import torch.nn.functional as Fnn
from PIL import Image
from scipy.ndimage import distance_transform_edt

from handrecon.geometry.mesh import vertex_normals
from handrecon.hand.anatomy import anatomical_frames
from handrecon.hand.keypoints import MANO16_PARENTS
from handrecon.io.colour import linear_to_srgb, srgb_to_linear
from handrecon.render.interpolate import face_corner_attributes
from handrecon.synth.appearance.backgrounds import value_noise
from handrecon.synth.rng import fixed_generator
from handrecon.texture.bake import rasterize_uv

NAIL_ASSET = "openhand_nails.png"

# Representative sRGB skin colours of the six Fitzpatrick phototypes (I..VI), light to dark; tones in between
# are interpolated. Values follow commonly used swatches of the scale (reflectance of the inner arm).
FITZPATRICK_SRGB: tuple[tuple[int, int, int], ...] = (
    (246, 213, 188),
    (234, 189, 157),
    (214, 161, 122),
    (183, 128, 90),
    (131, 85, 56),
    (80, 52, 38),
)
PALM_SRGB = (236, 178, 160)  # palms are lighter and pinker than the back, most visibly for dark skin
NAIL_SRGB = (236, 196, 190)
NAIL_TIP_SRGB = (246, 236, 228)
JOINT_RADIUS_M = {"mcp": 0.011, "pip": 0.008, "dip": 0.006}
WRIST_BLEND_M = 0.025  # hand skin blends into the forearm's over this distance from the wrist
ARM_TEXTURE_HW = (32, 128)  # forearm skin: along the arm (wrist at the bottom row) x around it


def _linear(rgb: tuple[int, int, int]) -> torch.Tensor:
    return srgb_to_linear(torch.tensor(rgb, dtype=torch.float32) / 255.0)


def skin_tone(t: float) -> torch.Tensor:
    """Linear RGB albedo (3,) for a tone t in [0, 1]: 0 = Fitzpatrick I, 1 = Fitzpatrick VI."""
    anchors = torch.stack([_linear(c) for c in FITZPATRICK_SRGB])
    x = float(np.clip(t, 0.0, 1.0)) * (len(anchors) - 1)
    i = min(int(x), len(anchors) - 2)
    return anchors[i] + (anchors[i + 1] - anchors[i]) * (x - i)


def load_nail_mask(size: int) -> torch.Tensor:
    """The bundled fingernail mask (size, size) in [0, 1], row 0 at v = 1."""
    with resources.as_file(resources.files("handrecon.assets") / NAIL_ASSET) as p:
        img = Image.open(p).convert("L")
        if img.size != (size, size):
            img = img.resize((size, size), Image.BILINEAR)
        return torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0)


@dataclass
class UVMaps:
    """Per-texel anatomy of a hand UV layout, (S, S) each (row 0 at v = 1)."""

    coverage: torch.Tensor  # bool: texel belongs to a UV triangle
    palmar: torch.Tensor  # 1 on the palmar (flexor) side, 0 on the back
    knuckle: torch.Tensor  # dorsal skin over the finger joints
    crease: torch.Tensor  # palmar flexion creases of the finger joints
    nail: torch.Tensor  # fingernail plates
    nail_tip: torch.Tensor  # distal part of the nails (free edge)
    wrist: torch.Tensor  # 0 at the wrist opening, 1 from WRIST_BLEND_M up the hand: where forearm skin takes over
    position: torch.Tensor  # (n, 3) rest-pose surface point of each covered texel (metres)
    nearest: torch.Tensor  # (S, S) long: index (into the n covered texels) of the nearest covered texel

    def spread(self, values: torch.Tensor) -> torch.Tensor:
        """Values of the n covered texels (n,) or (n, C) -> a full map (S, S) or (C, S, S), every texel
        taking its nearest covered texel's value (so bilinear lookups across chart borders stay in skin)."""
        out = values[self.nearest]
        return out if values.dim() == 1 else out.permute(2, 0, 1)


def _smoothstep(lo: float, hi: float, x: torch.Tensor) -> torch.Tensor:
    t = ((x - lo) / (hi - lo)).clamp(0, 1)
    return t * t * (3 - 2 * t)


@torch.no_grad()
def build_uv_maps(model, size: int = 256) -> UVMaps:
    """Classify every texel of `model`'s UV layout from its rest-pose surface point (right-hand frame)."""
    if model.uv is None or model.faces_uv is None:
        raise ValueError(f"the {model.name} hand model has no UV layout; synthetic skin textures need one")
    f32 = torch.float32
    v = model.v_template.to(f32).cpu()
    faces = model.faces_closed.cpu()
    if model.side == "left":  # analyse the right hand: same UV layout, mirrored geometry
        v = v * torch.tensor([-1.0, 1.0, 1.0])
        faces = faces[:, [0, 2, 1]]
    frags = rasterize_uv(face_corner_attributes(model.uv.to(f32).cpu(), model.faces_uv.cpu()), size, size)
    # Rest-pose attributes of the covered texels only: position, normal, skinning weights.
    attrs = torch.cat([v, vertex_normals(v, faces), model.lbs_weights.to(f32).cpu()], -1)
    texel = (face_corner_attributes(attrs, faces)[frags.fg_face] * frags.fg_bary[:, :, None]).sum(1)
    pos, nrm, w = texel[:, :3], Fnn.normalize(texel[:, 3:6], dim=-1), texel[:, 6:]
    pix = frags.fg_pixel
    covered = frags.mask[0]

    joints = model.j_template.to(torch.float64).cpu().numpy()
    tips = v.double().numpy()[model.tip_vertex_ids.cpu().numpy()]
    if model.side == "left":
        joints = joints * np.array([-1.0, 1.0, 1.0])
    A, _ = anatomical_frames(np.concatenate([joints, tips]), "right")
    # Palmar direction of each of the 16 bones: the palm normal (+z of the canonical frame) for the wrist
    # and the thenar eminence, the flexion direction of the anatomical frame for the fingers. The thumb
    # column is pronated, so its phalanges' skin is split by the direction opposite to its nail (the nail
    # mask marks the dorsal side).
    flex = [np.array([0.0, 0.0, 1.0])] + [np.cross(A[j][:, 0], A[j][:, 2]) for j in range(15)]
    flex[13] = flex[0]
    nail = load_nail_mask(size).reshape(-1)[pix]
    on_thumb_nail = (nail > 0.5) & (w[:, 15] > 0.5)
    if bool(on_thumb_nail.any()):
        dorsal = Fnn.normalize(nrm[on_thumb_nail].mean(0), dim=0).double().numpy()
        for j in (14, 15):
            t = A[j - 1][:, 2]
            d = dorsal - dorsal.dot(t) * t
            flex[j] = -d / np.linalg.norm(d)
    flex_t = torch.tensor(np.stack(flex), dtype=f32)
    palmar = _smoothstep(-0.25, 0.35, (nrm * flex_t[w.argmax(-1)]).sum(-1))

    knuckle = torch.zeros_like(palmar)
    crease = torch.zeros_like(palmar)
    kinds = {j: ("mcp", "pip", "dip")[(j - 1) % 3] for j in range(1, 13)}
    kinds.update({14: "pip", 15: "dip"})  # thumb: MCP and IP look like PIP / DIP; the CMC has no knuckle
    for j, kind in kinds.items():
        J = torch.tensor(joints[j], dtype=f32)
        axis = torch.tensor(A[j - 1][:, 2], dtype=f32)
        r = pos - J
        along = (r * axis).sum(-1)
        radial = (r - along[:, None] * axis).norm(dim=-1)
        near_finger = ((radial < 0.013) & (w[:, j] + w[:, MANO16_PARENTS[j]] > 0.5)).to(f32)
        rad = JOINT_RADIUS_M[kind]
        knuckle = torch.maximum(knuckle, torch.exp(-((r.norm(dim=-1) / rad) ** 2)) * (1 - palmar))
        # Flexion creases sit slightly proximal to the joint centre on the palmar side.
        band = torch.exp(-(((along + 0.15 * rad) / 0.0012) ** 2))
        crease = torch.maximum(crease, band * near_finger * palmar)
    # Free edge: the part of each nail closest to its fingertip vertex.
    d_tip = torch.cdist(pos, torch.tensor(tips, dtype=f32)).amin(-1)
    nail_tip = nail * _smoothstep(0.0045, 0.0015, d_tip)

    # Nearest covered texel of every texel (an exact, order-free extension beyond the charts' borders).
    _, (rows, cols) = distance_transform_edt(~covered.numpy(), return_indices=True)
    slot = torch.full((size * size,), -1, dtype=torch.long)
    slot[pix] = torch.arange(pix.numel())
    nearest = slot[torch.from_numpy(rows * size + cols).long()]
    # The wrist opening lies in the plane y = 0 of the canonical frame (the wrist joint).
    wrist = _smoothstep(0.0, WRIST_BLEND_M, pos[:, 1])
    maps = UVMaps(covered, palmar, knuckle, crease, nail, nail_tip, wrist, pos, nearest)
    for name in ("palmar", "knuckle", "crease", "nail", "nail_tip", "wrist"):
        setattr(maps, name, maps.spread(getattr(maps, name)))
    return maps


def solid_noise(rng: np.random.Generator, points: torch.Tensor, cell_m: float) -> torch.Tensor:
    """Value noise at surface points (n, 3): seamless across the UV layout's seams.

    A random lattice with `cell_m` spacing over the points' bounding box, interpolated trilinearly; the
    result (n,) has zero mean and unit standard deviation.
    """
    lo = points.amin(0) - 1e-3
    x = (points - lo) / cell_m
    n = (x.amax(0).floor().long() + 2).tolist()
    lattice = torch.from_numpy(rng.standard_normal(n).astype(np.float32))
    i0 = x.floor().long()
    f = x - i0
    out = torch.zeros(points.shape[0])
    for corner in range(8):
        d = [(corner >> a) & 1 for a in range(3)]
        w = torch.ones(points.shape[0])
        for a in range(3):
            w = w * (f[:, a] if d[a] else 1 - f[:, a])
        out += w * lattice[i0[:, 0] + d[0], i0[:, 1] + d[1], i0[:, 2] + d[2]]
    return (out - out.mean()) / out.std().clamp_min(1e-6)


def uv_noise(rng: np.random.Generator, size: int, cells: int) -> torch.Tensor:
    """Fine value noise (size, size) in texture space (pores: too fine for seams to show)."""
    g = torch.from_numpy(rng.standard_normal((1, 1, cells + 3, cells + 3)).astype(np.float32))
    up = Fnn.interpolate(g, size=(size + 3 * size // cells, size + 3 * size // cells), mode="bicubic")
    out = up[0, 0, :size, :size]
    return (out - out.mean()) / out.std().clamp_min(1e-6)


class SkinTextureBank:
    """Makes per-sample skin textures (4, S, S): linear RGB albedo and a specular weight channel.

    Noise fields are computed once per process from a fixed seed; a sample mixes two fields of each
    kind with random weights (mixing keeps them seamless, unlike shifting them in texture space).
    """

    def __init__(self, model, size: int = 256, bank: int = 6, arm_palmar: torch.Tensor | None = None) -> None:
        self.size = size
        self.maps = build_uv_maps(model, size)
        # Palmar weight around the forearm (one value per column of the forearm texture, wrapping around).
        w = ARM_TEXTURE_HW[1]
        if arm_palmar is None:
            self.arm_palmar = torch.zeros(w)
        else:
            x = torch.arange(w) * len(arm_palmar) / w
            i0 = x.floor().long()
            f = x - i0
            self.arm_palmar = arm_palmar[i0 % len(arm_palmar)] * (1 - f) + arm_palmar[(i0 + 1) % len(arm_palmar)] * f
        rng = fixed_generator(f"skin-noise-{size}")
        pos, spread = self.maps.position, self.maps.spread
        self.blotch = torch.stack([spread(solid_noise(rng, pos, 0.03)) for _ in range(bank)])
        self.mottle = torch.stack([spread(solid_noise(rng, pos, 0.008)) for _ in range(bank)])
        self.freckle = torch.stack([spread((solid_noise(rng, pos, 0.0025) - 2.0).clamp(0, 1)) for _ in range(bank)])
        self.pores = torch.stack([uv_noise(rng, size, size // 2) for _ in range(bank)])

    @staticmethod
    def _mix(rng: np.random.Generator, fields: torch.Tensor) -> torch.Tensor:
        i, j = rng.choice(len(fields), 2, replace=False)
        a = rng.uniform(0, 2 * np.pi)
        return fields[i] * float(np.cos(a)) + fields[j] * float(np.sin(a))

    def texture(self, rng: np.random.Generator, tone: float) -> tuple[torch.Tensor, torch.Tensor]:
        """Hand texture (4, S, S) and forearm texture (4, h, w) for skin tone `tone` in [0, 1] (see `skin_tone`).

        The forearm wears the hand's dorsal tone (the lighter palm colour belongs to the glabrous skin of
        the palm only); the hand's texture blends into that tone at the wrist, so the two meet seamlessly.
        """
        m = self.maps
        base = skin_tone(tone)
        # Individual variation: warmer / more olive / redder skins of the same lightness.
        base = base * torch.tensor([1.0 + rng.normal(0, 0.04), 1.0 + rng.normal(0, 0.04), 1.0 + rng.normal(0, 0.06)])
        # Palms: lighter and pinker, most visibly for dark skin (blend in sRGB, as the swatches are).
        a = 0.15 + 0.35 * tone
        palm = srgb_to_linear(torch.lerp(linear_to_srgb(base), torch.tensor(PALM_SRGB) / 255.0, a))
        albedo = base[:, None, None] * (1 - m.palmar) + palm[:, None, None] * m.palmar

        redness = torch.tensor([0.4, -0.2, -0.2])[:, None, None]
        blotch = self._mix(rng, self.blotch) * rng.uniform(0.03, 0.08)
        mottle = self._mix(rng, self.mottle) * rng.uniform(0.015, 0.04)
        pores = self._mix(rng, self.pores) * rng.uniform(0.01, 0.03)
        albedo = albedo * (1 + blotch * (1 + redness) + mottle + pores)
        knuckle_dark = rng.uniform(0.06, 0.18) + 0.15 * tone
        albedo = albedo * (1 - knuckle_dark * m.knuckle * torch.tensor([0.7, 1.0, 1.0])[:, None, None])
        albedo = albedo * (1 - rng.uniform(0.15, 0.35) * m.crease)
        if tone < 0.4 and rng.random() < 0.3:
            freckles = self._mix(rng, self.freckle).abs().clamp(0, 1) * (1 - m.palmar)
            albedo = albedo * (1 - rng.uniform(0.1, 0.3) * freckles * torch.tensor([0.5, 0.8, 1.0])[:, None, None])

        nail_col = torch.lerp(_linear(NAIL_SRGB), base, 0.3 + 0.2 * tone)[:, None, None]
        if rng.random() < 0.06:  # nail polish
            nail_col = srgb_to_linear(torch.from_numpy(rng.uniform(0.05, 0.95, 3).astype(np.float32)))[:, None, None]
        else:
            tip = _linear(NAIL_TIP_SRGB)[:, None, None]
            nail_col = nail_col + (tip - nail_col) * (m.nail_tip * rng.uniform(0.3, 0.7))[None]
        nail = m.nail[None]
        albedo = albedo * (1 - nail) + nail_col * nail
        # Towards the wrist the hand's skin becomes the forearm's (lighter on the inner side).
        wrist_skin = torch.lerp(base[:, None, None], torch.lerp(base, palm, 0.25)[:, None, None], m.palmar[None])
        albedo = wrist_skin + (albedo - wrist_skin) * m.wrist[None]
        specular = 0.3 + 0.3 * (1 - m.palmar) + 0.9 * m.nail
        hand = torch.cat([albedo.clamp(0, 1), specular[None]], 0)

        h, w = ARM_TEXTURE_HW
        ramp = (torch.linspace(1.0, 0.0, h)[:, None] / 0.15).clamp(max=1.0)  # no variation at the wrist row
        noise = value_noise(rng, h, w, 4) * rng.uniform(0.03, 0.07) + value_noise(rng, h, w, 16) * 0.02
        inner = torch.lerp(base, palm, 0.25)[:, None, None]
        arm = torch.lerp(base[:, None, None], inner, self.arm_palmar[None, None]) * (1 + noise * ramp)[None]
        return hand, torch.cat([arm.clamp(0, 1), torch.full((1, h, w), 0.5)], 0)
