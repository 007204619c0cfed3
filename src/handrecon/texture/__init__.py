"""handrecon.texture: occlusion-aware texture from a photo (AMVUR sec. 3.4): visibility from the z-buffer,
reverse interpolation of per-vertex values, diffusion to occluded vertices, and UV texture baking."""

from handrecon.texture.bake import BakedTexture, bake_uv_texture, dilate_texture, rasterize_uv
from handrecon.texture.diffusion import harmonic_fill
from handrecon.texture.reverse_interpolation import VertexSamples, reverse_interpolate
from handrecon.texture.visibility import visible_faces, visible_vertices

__all__ = [
    "BakedTexture",
    "VertexSamples",
    "bake_uv_texture",
    "dilate_texture",
    "harmonic_fill",
    "rasterize_uv",
    "reverse_interpolate",
    "visible_faces",
    "visible_vertices",
]
