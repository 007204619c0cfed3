"""Reverse interpolation (AMVUR eq. 11): per-vertex values read from an image or feature map at the
projected vertex positions by bilinear sampling, kept where the vertex is visible and, optionally, diffused
over the mesh to the occluded vertices.

Eq. 11 samples the concatenation of feature maps and vertex coordinates; callers concatenate the channels
they need, since sampling is linear per channel.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from handrecon.render.rasterize import Camera, Fragments, rasterize, to_screen
from handrecon.render.sampling import sample_image
from handrecon.texture.diffusion import harmonic_fill
from handrecon.texture.visibility import visible_vertices


@dataclass
class VertexSamples:
    """values: (B, V, C) per-vertex samples; visible: (B, V) bool, the vertices whose values were observed."""

    values: torch.Tensor
    visible: torch.Tensor


def reverse_interpolate(
    image: torch.Tensor,
    vertices: torch.Tensor,
    faces: torch.Tensor,
    camera: Camera,
    fragments: Fragments | None = None,
    fill: bool = True,
) -> VertexSamples:
    """Sample image (B, C, H, W) at the projections of camera-frame vertices (B, V, 3).

    The image may have any resolution: the camera's pixel grid is mapped onto it. Occluded vertices get
    the harmonic fill of the visible ones when `fill`, zeros otherwise. Pass `fragments` of the same mesh
    and camera to reuse a rasterization.
    """
    faces = faces.to(device=vertices.device, dtype=torch.long)
    if fragments is None:
        fragments = rasterize(vertices, faces, camera, crop=True)  # only the visibility lists are read
    visible = visible_vertices(fragments, faces, vertices.shape[1])
    xy, _ = to_screen(vertices, camera)
    scale = torch.tensor(
        [image.shape[-1] / camera.width, image.shape[-2] / camera.height], dtype=xy.dtype, device=xy.device
    )
    values = sample_image(image, xy * scale)
    values = harmonic_fill(values, visible, faces) if fill else values * visible[..., None].to(values.dtype)
    return VertexSamples(values=values, visible=visible)
