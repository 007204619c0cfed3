"""handrecon.render: differentiable rasterization (hard z-buffer and SoftRas), shading, texturing, overlays.

Pure PyTorch, CPU and CUDA, float32 and float64. Vertices are in the camera frame (OpenCV axes); pixel
(x, y) has its centre at (x + 0.5, y + 0.5); UVs have v up (OBJ).
"""

from handrecon.render.interpolate import (
    face_corner_attributes,
    interpolate_face_attributes,
    interpolate_vertex_attributes,
)
from handrecon.render.rasterize import Fragments, rasterize, rasterize_screen, to_screen
from handrecon.render.renderer import RenderOutput, render_mesh, soft_render_mesh
from handrecon.render.sampling import sample_image, sample_texture
from handrecon.render.shading import lambert, make_lighting, split_lighting
from handrecon.render.soft import SoftRaster, soft_rasterize, soft_rasterize_screen, soft_silhouette

__all__ = [
    "Fragments",
    "RenderOutput",
    "SoftRaster",
    "face_corner_attributes",
    "interpolate_face_attributes",
    "interpolate_vertex_attributes",
    "lambert",
    "make_lighting",
    "rasterize",
    "rasterize_screen",
    "render_mesh",
    "sample_image",
    "sample_texture",
    "soft_rasterize",
    "soft_rasterize_screen",
    "soft_render_mesh",
    "soft_silhouette",
    "split_lighting",
    "to_screen",
]
