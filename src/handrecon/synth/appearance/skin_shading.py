"""Skin-like shading of rendered pixels on top of the 11-value lighting of `handrecon.render.shading`.

Plain Lambert makes hands look like plastic: skin scatters light under the surface (a soft, reddish
terminator) and has a faint oily sheen. Per covered pixel this shader uses
- wrapped diffuse, wider for red than for blue (cheap subsurface scattering),
- a sky/ground ambient gradient (more light from above than from below),
- Blinn-Phong specular weighted by a texture channel (nails shine, palms barely),
- an ambient-occlusion factor from the depth buffer (crevices between fingers and under occluding fingers).
The light itself comes from `split_lighting`, so the stored 11-value vector stays the key light.
"""

from __future__ import annotations

import torch
import torch.nn.functional as Fnn

from handrecon.render.shading import split_lighting

WRAP_RGB = (0.45, 0.25, 0.18)  # diffuse wrap per channel: red light scatters furthest in skin


def shade_pixels(
    albedo: torch.Tensor,
    specular_weight: torch.Tensor,
    normals: torch.Tensor,
    points: torch.Tensor,
    lighting: torch.Tensor,
    batch: torch.Tensor,
    ao: torch.Tensor,
    wrap: torch.Tensor | None = None,
    shininess: float = 18.0,
    specular: float = 0.12,
) -> torch.Tensor:
    """Linear RGB (n, 3) of n covered pixels.

    albedo (n, 3), specular_weight (n,), unit normals (n, 3), camera-frame surface points (n, 3),
    lighting (B, 11), batch (n,) index of each pixel's image, ao (n,) in [0, 1] (1 = unoccluded),
    wrap (n, 3) per-pixel diffuse wrap (defaults to skin's `WRAP_RGB`; zeros give plain Lambert).
    """
    ambient, directional, direction = split_lighting(lighting.to(albedo))
    amb, dirc, ldir = ambient[batch], directional[batch], direction[batch]
    if wrap is None:
        wrap = albedo.new_tensor(WRAP_RGB).expand_as(albedo)
    cos = (normals * ldir).sum(-1, keepdim=True)
    diffuse = ((cos + wrap) / (1 + wrap)).clamp_min(0) ** 1.5 * (1 + wrap) / (1 + 0.5 * wrap)
    sky = 1.0 + 0.3 * (-normals[:, 1:2])  # camera y points down: upward normals see more sky
    irradiance = amb * sky * ao[:, None] + dirc * diffuse * (0.35 + 0.65 * ao[:, None])
    view = Fnn.normalize(-points, dim=-1)
    half = Fnn.normalize(view + ldir, dim=-1)
    n_h = (normals * half).sum(-1, keepdim=True).clamp_min(0)
    fresnel = 0.6 + 0.4 * (1 - (normals * view).sum(-1, keepdim=True).clamp(0, 1)) ** 5
    spec = dirc * specular * specular_weight[:, None] * fresnel * n_h**shininess * (cos > 0)
    return albedo * irradiance + spec


def box_mean_sum(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Sum of x (B, H, W) over the (2r+1)^2 window around each pixel (zero padding), via integral images
    in float64 (depth sums over a whole image stay exact to well below a millimetre)."""
    k = 2 * radius + 1
    H, W = x.shape[-2:]
    c = Fnn.pad(x.double(), (radius + 1, radius, radius + 1, radius)).cumsum(-1).cumsum(-2)
    return (c[..., k:, k:] - c[..., :H, k:] - c[..., k:, :W] + c[..., :H, :W]).to(x.dtype)


def screen_space_ao(depth: torch.Tensor, mask: torch.Tensor, radius: int, strength: float = 0.6) -> torch.Tensor:
    """(B, H, W) occlusion factor in [0, 1] from a depth buffer (B, H, W) and its coverage mask.

    A pixel lying deeper than the average covered surface around it sits in a crevice or under a nearer
    part and receives less ambient light; the darkening saturates at 1.5 cm depth difference.
    """
    m = mask.to(depth.dtype)
    mean = box_mean_sum(depth * m, radius) / box_mean_sum(m, radius).clamp_min(1e-6)
    deeper = ((depth - mean) / 0.015).clamp(0, 1) * m
    return 1.0 - strength * deeper
