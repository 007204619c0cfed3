"""Occluding objects: random flat textured shapes placed between the camera and the hand.

Each occluder is a planar fan mesh (a centre and `RIM` outline vertices) so that it goes through the same
z-buffer as the hands: the rendered depth, the masks and the per-joint visibility all account for it.
Outlines: ellipses, rounded rectangles, irregular blobs and long bars (pens, sticks, cables, edges of
objects held in front of the hand).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from handrecon.geometry.rotations import axis_rotation
from handrecon.synth.appearance.backgrounds import GENERATORS

RIM = 32
VERTICES = RIM + 1
SHAPES = ("ellipse", "rounded_rect", "blob", "bar")
PATTERNS = ("noise", "stripes", "wood", "gradient", "tiles")


def fan_faces() -> torch.Tensor:
    """(RIM, 3) faces of a fan: vertex 0 the centre, 1..RIM the outline (counter-clockwise in the plane)."""
    i = torch.arange(RIM)
    return torch.stack([torch.zeros_like(i), 1 + i, 1 + (i + 1) % RIM], 1)


def fan_uv() -> torch.Tensor:
    """(VERTICES, 2) UVs of the fan: the outline's bounding square mapped to [0, 1]^2 (filled per shape)."""
    a = torch.arange(RIM, dtype=torch.float64) * (2 * math.pi / RIM)
    return torch.cat([torch.tensor([[0.5, 0.5]], dtype=torch.float64), 0.5 + 0.5 * torch.stack([a.cos(), a.sin()], 1)])


def outline(rng: np.random.Generator, shape: str) -> np.ndarray:
    """(RIM,) radius of the outline per angle, max 1, for a shape kind."""
    a = np.arange(RIM) * (2 * math.pi / RIM)
    if shape == "ellipse":
        return np.ones(RIM)
    if shape == "rounded_rect":
        p = rng.uniform(3, 8)  # superellipse exponent
        return 1.0 / (np.abs(np.cos(a)) ** p + np.abs(np.sin(a)) ** p) ** (1 / p)
    if shape == "bar":
        return 1.0 / (np.abs(np.cos(a)) ** 8 + np.abs(np.sin(a)) ** 8) ** (1 / 8)
    r = np.ones(RIM)
    for k in range(2, 6):
        r += rng.uniform(0, 0.35 / k) * np.cos(k * a + rng.uniform(0, 2 * math.pi))
    return r / r.max()


@dataclass
class Occluder:
    """A placed occluder: camera-frame vertices (VERTICES, 3) (centre, then the outline wound
    counter-clockwise as seen from the camera: the renderer skips back faces), its texture (4, h, w)
    (sRGB colour and a specular weight) and kind."""

    vertices: np.ndarray
    texture: torch.Tensor
    shape: str
    pattern: str


def random_occluder(
    rng: np.random.Generator, target: np.ndarray, hand_extent_m: float, texture_hw: tuple[int, int]
) -> Occluder:
    """An occluder in front of the camera-frame point `target` (a hand joint), partly covering the hand."""
    shape = SHAPES[int(rng.integers(len(SHAPES)))]
    depth = max(0.03, target[2] - rng.uniform(0.02, 0.15))
    shrink = depth / target[2]  # keep the on-screen size relative to the hand
    size = hand_extent_m * rng.uniform(0.2, 0.55) * shrink
    if shape == "bar":
        sx, sy = size * rng.uniform(1.5, 3.0), size * rng.uniform(0.08, 0.25)
    else:
        sx, sy = size, size * rng.uniform(0.5, 1.0)
    # Centre: on the target's ray, pushed sideways so that the occluder covers part of the hand only.
    ray = target / target[2] * depth
    offset = rng.normal(0, 1, 2)
    offset = offset / np.linalg.norm(offset) * rng.uniform(0.0, 1.0) * max(sx, sy)
    centre = ray + np.array([offset[0], offset[1], 0.0])
    # In-plane axes: a random rotation about the view axis, then a tilt of the plane.
    rot = rng.uniform(0, math.pi)
    e1 = np.array([math.cos(rot), math.sin(rot), 0.0])
    e2 = np.array([-math.sin(rot), math.cos(rot), 0.0])
    tilt_axis = e1 if rng.random() < 0.5 else e2
    tilt = rng.uniform(-0.6, 0.6)
    R = axis_rotation(tilt_axis, tilt)
    e1, e2 = R @ e1, R @ e2
    if np.cross(e1, e2) @ centre > 0:  # wind the fan towards the camera: its front faces are the visible ones
        e2 = -e2
    r = outline(rng, shape)
    a = np.arange(RIM) * (2 * math.pi / RIM)
    rim = centre + (r * np.cos(a) * sx)[:, None] * e1 + (r * np.sin(a) * sy)[:, None] * e2
    verts = np.concatenate([centre[None], rim])
    # Bending the plane a little (a curved object surface) by pushing the centre back or forth.
    verts[0, 2] += rng.uniform(-0.3, 0.3) * min(sx, sy)
    verts[:, 2] = np.maximum(verts[:, 2], 0.02)
    pattern = PATTERNS[int(rng.integers(len(PATTERNS)))]
    rgb = GENERATORS[pattern](rng, *texture_hw)
    shine = torch.full((1, *texture_hw), float(rng.uniform(0.0, 1.0)))
    return Occluder(verts, torch.cat([rgb, shine], 0), shape, pattern)


def covered_fraction(occluder: Occluder, points: np.ndarray, K: np.ndarray) -> float:
    """Fraction of camera-frame `points` (N, 3) that the occluder's outline covers in the image (even-odd
    rule on the projected outline; the occluder lies in front of the hand by construction)."""

    def project(p: np.ndarray) -> np.ndarray:
        q = p @ K.T
        return q[:, :2] / q[:, 2:3]

    poly = project(occluder.vertices[1:])
    xy = project(points)
    inside = np.zeros(len(xy), dtype=bool)
    a, b = poly, np.roll(poly, -1, axis=0)
    for (x0, y0), (x1, y1) in zip(a, b, strict=True):
        crosses = (y0 > xy[:, 1]) != (y1 > xy[:, 1])
        x_at = x0 + (xy[:, 1] - y0) * (x1 - x0) / ((y1 - y0) if y1 != y0 else 1e-12)
        inside ^= crosses & (xy[:, 0] < x_at)
    return float(inside.mean())
