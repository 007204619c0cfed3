"""Mesh rendering on top of the rasterizers: albedo from vertex colours or a UV texture, Lambertian shading.

`render_mesh` (hard, exact z-buffer) serves overlays, synthetic data and losses that need a fixed face
assignment; `soft_render_mesh` (SoftRas aggregation) serves silhouette and photometric losses whose
gradients must reach the outline.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from handrecon.geometry.mesh import face_normals, vertex_normals
from handrecon.render.interpolate import face_corner_attributes, interpolate_face_attributes
from handrecon.render.rasterize import DEFAULT_ZNEAR, Camera, Fragments, rasterize
from handrecon.render.sampling import sample_texture
from handrecon.render.shading import lambert
from handrecon.render.soft import SoftRaster, soft_rasterize

Shading = Literal["pixel", "vertex", "flat", "none"]

DEFAULT_ALBEDO = (0.85, 0.68, 0.58)  # a neutral skin tone for untextured meshes


@dataclass
class RenderOutput:
    """image: (B, H, W, C); mask: (B, H, W) bool; depth: (B, H, W) (0 on background); fragments."""

    image: torch.Tensor
    mask: torch.Tensor
    depth: torch.Tensor
    fragments: Fragments


def _batched(x: torch.Tensor, batch: int, name: str) -> torch.Tensor:
    if x.shape[0] not in (1, batch):
        raise ValueError(f"{name} batch {x.shape[0]} does not match vertices batch {batch}")
    return x


def pixel_albedo(
    fragments: Fragments,
    faces: torch.Tensor,
    like: torch.Tensor,
    vertex_colors: torch.Tensor | None = None,
    texture: torch.Tensor | None = None,
    corner_uvs: torch.Tensor | None = None,
) -> torch.Tensor:
    """Per-pixel albedo (B, H, W, C): texture (B, C, Ht, Wt) sampled at interpolated corner UVs (F, 3, 2) or
    (B, F, 3, 2), else interpolated vertex colours (B, V, C) or (V, C), else a constant skin tone."""
    B, H, W = fragments.shape
    if texture is not None:
        if corner_uvs is None:
            raise ValueError("a texture needs per-face-corner UVs (corner_uvs)")
        uv = interpolate_face_attributes(fragments, corner_uvs.to(like.dtype))
        return sample_texture(texture.to(like.dtype), uv) * fragments.mask[..., None]
    if vertex_colors is not None:
        return interpolate_face_attributes(fragments, face_corner_attributes(vertex_colors.to(like.dtype), faces))
    albedo = torch.tensor(DEFAULT_ALBEDO, dtype=like.dtype, device=like.device)
    return albedo * fragments.mask[..., None].to(like.dtype)


def render_mesh(
    vertices: torch.Tensor,
    faces: torch.Tensor,
    camera: Camera,
    vertex_colors: torch.Tensor | None = None,
    texture: torch.Tensor | None = None,
    corner_uvs: torch.Tensor | None = None,
    lighting: torch.Tensor | None = None,
    shading: Shading = "pixel",
    background: float | torch.Tensor = 0.0,
    znear: float = DEFAULT_ZNEAR,
    cull_backfaces: bool = False,
    crop: bool = False,
) -> RenderOutput:
    """Render camera-frame meshes (B, V, 3) with faces (F, 3); colours are in the albedo's range (e.g. [0, 1]).
    With `crop`, the output covers only the rectangle of the image the meshes can cover, at image pixel
    `fragments.origin` (the same pixels as the full render there; overlays of small hands in large photos).

    lighting: (B, 11) or (11,) S2HAND lighting vector (see `render.shading`); None renders the albedo unlit.
    shading: 'pixel' interpolates vertex normals and shades each pixel, 'vertex' shades vertices and
    interpolates (Gouraud), 'flat' uses face normals, 'none' ignores the lighting.
    """
    B = vertices.shape[0]
    faces = faces.to(device=vertices.device, dtype=torch.long)
    frags = rasterize(vertices, faces, camera, znear=znear, cull_backfaces=cull_backfaces, crop=crop)
    albedo = pixel_albedo(frags, faces, vertices, vertex_colors, texture, corner_uvs)
    if lighting is not None and shading != "none":
        lighting = _batched(lighting.reshape(-1, lighting.shape[-1]), B, "lighting")
        ones = torch.ones(1, 1, 3, dtype=vertices.dtype, device=vertices.device)
        if shading == "pixel":
            n = interpolate_face_attributes(frags, face_corner_attributes(vertex_normals(vertices, faces), faces))
            n = torch.nn.functional.normalize(n, dim=-1, eps=1e-12)
            albedo = lambert(n, albedo, lighting)
        elif shading == "flat":
            fn = face_normals(vertices, faces)  # (B, F, 3)
            irradiance = lambert(fn, ones.expand_as(fn), lighting)
            albedo = albedo * interpolate_face_attributes(frags, irradiance[:, :, None].expand(-1, -1, 3, -1))
        elif shading == "vertex":
            vn = vertex_normals(vertices, faces)
            if vertex_colors is not None and texture is None:
                colors = vertex_colors.to(vn.dtype).reshape(-1, *vertex_colors.shape[-2:])
                shaded = lambert(vn, _batched(colors, B, "vertex_colors").expand_as(vn), lighting)
                albedo = interpolate_face_attributes(frags, face_corner_attributes(shaded, faces))
            else:
                irradiance = lambert(vn, ones.expand_as(vn), lighting)
                albedo = albedo * interpolate_face_attributes(frags, face_corner_attributes(irradiance, faces))
        else:
            raise ValueError(f"unknown shading {shading!r}; expected 'pixel', 'vertex', 'flat' or 'none'")
    mask = frags.mask
    bg = torch.as_tensor(background, dtype=albedo.dtype, device=albedo.device)
    image = torch.where(mask[..., None], albedo, bg)
    return RenderOutput(image=image, mask=mask, depth=frags.depth, fragments=frags)


def soft_render_mesh(
    vertices: torch.Tensor,
    faces: torch.Tensor,
    camera: Camera,
    vertex_colors: torch.Tensor | None = None,
    lighting: torch.Tensor | None = None,
    background: float | torch.Tensor = 0.0,
    **soft_kwargs,
) -> SoftRaster:
    """Differentiable colour and silhouette (SoftRas) of meshes (B, V, 3) with per-vertex colours (B, V, C),
    Gouraud-shaded under `lighting` (B, 11) when given. Options as in `render.soft.soft_rasterize_screen`."""
    B = vertices.shape[0]
    faces = faces.to(device=vertices.device, dtype=torch.long)
    if vertex_colors is None:
        vertex_colors = torch.tensor(DEFAULT_ALBEDO, dtype=vertices.dtype, device=vertices.device)
        vertex_colors = vertex_colors.expand(B, vertices.shape[1], 3)
    colors = _batched(vertex_colors.to(vertices.dtype).reshape(-1, *vertex_colors.shape[-2:]), B, "vertex_colors")
    if lighting is not None:
        vn = vertex_normals(vertices, faces)
        colors = lambert(vn, colors.expand(B, -1, -1), lighting)
    corner_colors = face_corner_attributes(colors, faces)
    return soft_rasterize(vertices, faces, camera, corner_attrs=corner_colors, background=background, **soft_kwargs)
