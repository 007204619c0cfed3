"""Procedural backgrounds (and occluder surface textures): gradients, noise, stripes, blobs, tiles, wood,
and crops of the few permissively licensed photographs found in installed packages.

Every generator draws all its parameters from the sample's stream and returns sRGB values (3, H, W) in
[0, 1]. Colours are drawn mostly muted (indoor walls, tables, fabric), sometimes saturated.

Photographs: matplotlib's sample data ships `grace_hopper.jpg`, an official U.S. Navy photograph (public
domain as a work of the U.S. federal government). It is used only when matplotlib is installed (it is not
a handrecon dependency), as random crops, flips and colour shifts.
"""

from __future__ import annotations

import colorsys
import math
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as Fnn
from PIL import Image

from handrecon.render.filters import gaussian_blur

PHOTO_SOURCES: dict[str, str] = {
    "grace_hopper.jpg": "matplotlib sample data; U.S. Navy photograph, public domain (work of the U.S. government)",
}


def random_colour(rng: np.random.Generator, saturated: float = 0.2) -> torch.Tensor:
    """An sRGB colour (3,): mostly muted, with probability `saturated` a vivid one."""
    h = rng.random()
    if rng.random() < saturated:
        s, v = rng.uniform(0.5, 1.0), rng.uniform(0.4, 1.0)
    else:
        s, v = rng.uniform(0.0, 0.35), rng.uniform(0.1, 0.95)
    return torch.tensor(colorsys.hsv_to_rgb(h, s, v), dtype=torch.float32)


def value_noise(rng: np.random.Generator, h: int, w: int, cells: float) -> torch.Tensor:
    """Smooth noise (h, w) in [-1, 1] with `cells` features across the larger side (bilinear lattice)."""
    n = max(2, int(math.ceil(cells))) + 2
    g = torch.from_numpy(rng.uniform(-1, 1, (1, 1, n, n)).astype(np.float32))
    big = max(h, w)
    up = Fnn.interpolate(g, size=(big * n // (n - 2),) * 2, mode="bilinear", align_corners=False)
    return up[0, 0, :h, :w]


def fractal_noise(rng: np.random.Generator, h: int, w: int, base: float, octaves: int = 4) -> torch.Tensor:
    """Sum of value-noise octaves (persistence 0.5), about [-1, 1]."""
    out = torch.zeros(h, w)
    amp, total = 1.0, 0.0
    for o in range(octaves):
        out += amp * value_noise(rng, h, w, base * 2**o)
        total += amp
        amp *= 0.5
    return out / total


def _grid(h: int, w: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel coordinates normalised by the larger side and rotated by a random angle."""
    s = float(max(h, w))
    y, x = torch.meshgrid(torch.arange(h) / s, torch.arange(w) / s, indexing="ij")
    a = rng.uniform(0, math.pi)
    return x * math.cos(a) + y * math.sin(a), -x * math.sin(a) + y * math.cos(a)


def _mix(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return a[:, None, None] * (1 - t) + b[:, None, None] * t


def gradient(rng: np.random.Generator, h: int, w: int) -> torch.Tensor:
    u, _ = _grid(h, w, rng)
    t = (u - u.min()) / (u.max() - u.min() + 1e-6)
    img = _mix(random_colour(rng), random_colour(rng), t)
    return img * (1 + 0.04 * fractal_noise(rng, h, w, 3))


def noise(rng: np.random.Generator, h: int, w: int) -> torch.Tensor:
    t = 0.5 + 0.5 * fractal_noise(rng, h, w, rng.uniform(2, 12), octaves=5)
    return _mix(random_colour(rng), random_colour(rng), t)


def stripes(rng: np.random.Generator, h: int, w: int) -> torch.Tensor:
    u, _ = _grid(h, w, rng)
    freq = rng.uniform(3, 25)
    wave = torch.sin(2 * math.pi * freq * u + 2 * fractal_noise(rng, h, w, 2) * rng.uniform(0, 1))
    sharp = rng.uniform(1, 20)
    t = torch.sigmoid(sharp * wave)
    return _mix(random_colour(rng, 0.4), random_colour(rng, 0.4), t)


def blobs(rng: np.random.Generator, h: int, w: int) -> torch.Tensor:
    img = random_colour(rng)[:, None, None].expand(3, h, w).clone()
    y, x = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    for _ in range(int(rng.integers(5, 40))):
        cx, cy = rng.uniform(-0.1, 1.1) * w, rng.uniform(-0.1, 1.1) * h
        rx, ry = rng.uniform(0.03, 0.3) * w, rng.uniform(0.03, 0.3) * h
        a = rng.uniform(0, math.pi)
        dx, dy = x - cx, y - cy
        u = (dx * math.cos(a) + dy * math.sin(a)) / rx
        v = (-dx * math.sin(a) + dy * math.cos(a)) / ry
        soft = rng.uniform(0.02, 0.5)
        alpha = torch.sigmoid((1 - (u * u + v * v)) / soft) * rng.uniform(0.5, 1.0)
        img = img * (1 - alpha) + random_colour(rng, 0.35)[:, None, None] * alpha
    return img


def tiles(rng: np.random.Generator, h: int, w: int) -> torch.Tensor:
    u, v = _grid(h, w, rng)
    n = rng.uniform(2, 12)
    fu, fv = u * n, v * n * rng.uniform(0.5, 2)
    cu, cv = torch.floor(fu), torch.floor(fv)
    checker = ((cu + cv) % 2).float() if rng.random() < 0.5 else torch.zeros_like(fu)
    a, b, grout = random_colour(rng), random_colour(rng), random_colour(rng)
    img = _mix(a, b, checker)
    width = rng.uniform(0.02, 0.08)
    line = ((fu - cu) < width) | ((fv - cv) < width)
    img = torch.where(line[None], grout[:, None, None], img)
    return img * (1 + 0.05 * fractal_noise(rng, h, w, 8))


def wood(rng: np.random.Generator, h: int, w: int) -> torch.Tensor:
    u, v = _grid(h, w, rng)
    rings = torch.sin(2 * math.pi * (rng.uniform(4, 20) * u + 3 * fractal_noise(rng, h, w, 2, 3)))
    t = 0.5 + 0.5 * rings
    hue = rng.uniform(0.04, 0.12)
    c1 = torch.tensor(colorsys.hsv_to_rgb(hue, rng.uniform(0.3, 0.7), rng.uniform(0.3, 0.8)), dtype=torch.float32)
    c2 = c1 * rng.uniform(0.55, 0.85)
    return _mix(c1, c2, t) * (1 + 0.06 * value_noise(rng, h, w, 40))


@lru_cache(maxsize=4)
def _photo(name: str) -> torch.Tensor | None:
    try:
        from matplotlib import cbook

        path = Path(cbook.get_sample_data(name, asfileobj=False))
    except Exception:  # matplotlib missing or its sample data not shipped: no photographs
        return None
    with Image.open(path) as im:
        return torch.from_numpy(np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0).permute(2, 0, 1)


def available_photos() -> list[str]:
    """Names of the permissively licensed photographs present in this installation."""
    return [n for n in PHOTO_SOURCES if _photo(n) is not None]


def photo(rng: np.random.Generator, h: int, w: int) -> torch.Tensor:
    names = available_photos()
    if not names:
        return noise(rng, h, w)
    img = _photo(names[int(rng.integers(len(names)))])
    H, W = img.shape[1:]
    side = int(min(H, W) * rng.uniform(0.2, 0.9))
    y0, x0 = int(rng.integers(0, H - side + 1)), int(rng.integers(0, W - side + 1))
    crop = img[:, y0 : y0 + side, x0 : x0 + side][None]
    out = Fnn.interpolate(crop, size=(h, w), mode="bilinear", align_corners=False, antialias=True)[0]
    if rng.random() < 0.5:
        out = out.flip(-1)
    gains = torch.from_numpy(rng.uniform(0.7, 1.3, 3).astype(np.float32))[:, None, None]
    return (out * gains).clamp(0, 1)


GENERATORS: dict[str, Callable[[np.random.Generator, int, int], torch.Tensor]] = {
    "gradient": gradient,
    "noise": noise,
    "stripes": stripes,
    "blobs": blobs,
    "tiles": tiles,
    "wood": wood,
    "photo": photo,
}
BACKGROUND_WEIGHTS: dict[str, float] = {
    "gradient": 0.12,
    "noise": 0.27,
    "stripes": 0.1,
    "blobs": 0.25,
    "tiles": 0.1,
    "wood": 0.13,
    "photo": 0.03,
}


def random_background(rng: np.random.Generator, h: int, w: int) -> tuple[torch.Tensor, str]:
    """A background (3, h, w) in sRGB [0, 1] and its kind; often defocused, as behind a focused hand.

    Patterns are drawn at half resolution and upsampled (a background is rarely in sharp focus, and this
    is four times cheaper); photographs are resampled directly.
    """
    kinds = list(BACKGROUND_WEIGHTS)
    p = np.array([BACKGROUND_WEIGHTS[k] for k in kinds])
    kind = kinds[int(rng.choice(len(kinds), p=p / p.sum()))]
    if kind == "photo":
        img = photo(rng, h, w)
    else:
        img = GENERATORS[kind](rng, max(8, h // 2), max(8, w // 2))
        img = Fnn.interpolate(img[None], size=(h, w), mode="bilinear", align_corners=False)[0]
    if rng.random() < 0.5:
        img = gaussian_blur(img[None], rng.uniform(0.5, 3.0))[0]
    return img.clamp(0, 1), kind
