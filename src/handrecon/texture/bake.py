"""Baking a UV texture map from a photo for the surface the camera sees (occlusion-aware texture).

Every texel inside a UV triangle stands for one surface point (barycentric in that face). The point is
projected into the photo; it is visible when the pixel it falls in shows the same face, or when its face
faces the camera (outward normals, counter-clockwise winding) and the pixel shows a surface no more than
`depth_tolerance` in front of it (neighbouring faces). Visible texels take the bilinear
sample of the photo there; the others are marked invalid. UVs follow the OBJ convention (v up), see
`render.sampling`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as Fnn

from handrecon.geometry.mesh import face_normals
from handrecon.render.rasterize import Camera, Fragments, is_perspective, rasterize, rasterize_screen
from handrecon.render.sampling import sample_image, uv_to_texel


@dataclass
class BakedTexture:
    """texture: (B, C, Ht, Wt), zeros where invalid; valid: (B, Ht, Wt) bool, texels seen in the photo."""

    texture: torch.Tensor
    valid: torch.Tensor


def _size(texture_size: int | tuple[int, int]) -> tuple[int, int]:
    h, w = (texture_size, texture_size) if isinstance(texture_size, int) else texture_size
    if h <= 0 or w <= 0:
        raise ValueError(f"texture size must be positive, got {texture_size}")
    return int(h), int(w)


def rasterize_uv(corner_uvs: torch.Tensor, height: int, width: int) -> Fragments:
    """Rasterize the UV layout (F, 3, 2) or (B, F, 3, 2) into an Ht x Wt texel grid (screen-linear barycentrics)."""
    uvs = corner_uvs if corner_uvs.dim() == 4 else corner_uvs[None]
    B, F = uvs.shape[:2]
    xy = uv_to_texel(uvs.reshape(B, F * 3, 2), height, width)
    faces = torch.arange(F * 3, device=uvs.device).view(F, 3)
    return rasterize_screen(xy, xy.new_zeros(B, F * 3), faces, height, width, perspective=False)


def pixel_footprint(camera: Camera, depth: torch.Tensor) -> torch.Tensor:
    """Metres covered by one pixel at the given depths (B, n): z / f for perspective, 1 / scale otherwise."""
    if is_perspective(camera):
        K = camera.K.to(depth.dtype).to(depth.device)
        f = (K[..., 0, 0] * K[..., 1, 1]).sqrt().reshape(-1, 1)
        return depth.abs() / f
    return 1.0 / camera.scale.to(depth).abs().reshape(-1, 1).expand_as(depth)


def bake_uv_texture(
    image: torch.Tensor,
    vertices: torch.Tensor,
    faces: torch.Tensor,
    corner_uvs: torch.Tensor,
    camera: Camera,
    texture_size: int | tuple[int, int] = 256,
    fragments: Fragments | None = None,
    depth_tolerance: float | None = None,
) -> BakedTexture:
    """Bake photos (B, C, H, W) onto the UV layout of camera-frame meshes (B, V, 3) with faces (F, 3).

    corner_uvs: (F, 3, 2) per-face-corner UVs shared by the batch (e.g. `uv[faces_uv]`). The photo's pixel
    grid must be the camera's. depth_tolerance (metres) defaults to two pixel footprints at the point's depth.
    Differentiable w.r.t. the photo and the vertices (through the projected sample positions).
    """
    if image.dim() != 4 or image.shape[-2:] != (camera.height, camera.width):
        raise ValueError(
            f"image must be (B, C, {camera.height}, {camera.width}) to match the camera, got {tuple(image.shape)}"
        )
    Ht, Wt = _size(texture_size)
    B, V, _ = vertices.shape
    faces = faces.to(device=vertices.device, dtype=torch.long)
    F = faces.shape[0]
    corner_uvs = corner_uvs.reshape(-1, *corner_uvs.shape[-3:]) if corner_uvs.dim() == 4 else corner_uvs[None]
    if corner_uvs.shape != (1, F, 3, 2):
        raise ValueError(f"corner_uvs must be (F, 3, 2) with F={F}, shared by the batch, got {tuple(corner_uvs.shape)}")
    if fragments is None:
        fragments = rasterize(vertices, faces, camera)
    uvf = rasterize_uv(corner_uvs.to(device=vertices.device, dtype=vertices.dtype), Ht, Wt)
    texel, face, bary = uvf.fg_pixel, uvf.fg_face, uvf.fg_bary  # (n,), (n,), (n, 3)

    # Surface point of each texel in each mesh, projected into the photo.
    points = (vertices[:, faces[face]] * bary[None, :, :, None]).sum(2)  # (B, n, 3)
    xy, z = camera.project(points)
    xy = xy.expand(B, -1, -1)

    with torch.no_grad():
        H, W = camera.height, camera.width
        col = torch.floor(xy.detach()[..., 0])
        row = torch.floor(xy.detach()[..., 1])
        inside = (col >= 0) & (col < W) & (row >= 0) & (row < H) & torch.isfinite(z)
        b = torch.arange(B, device=vertices.device)[:, None]
        pix = b * H * W + (row.clamp(0, H - 1) * W + col.clamp(0, W - 1)).long()
        shown_face = fragments.face_idx.reshape(-1)[pix]
        shown_depth = fragments.depth.detach().reshape(-1)[pix].to(z.dtype)
        if depth_tolerance is None:
            tol = 2.0 * pixel_footprint(camera, z.detach())
        else:
            tol = torch.full_like(z, float(depth_tolerance))
        # The texel's own face owns the pixel, or the texel lies on a camera-facing face no farther than
        # the tolerance behind the surface shown there (texels near edges between faces).
        same_face = shown_face == face[None]
        normals = face_normals(vertices.detach(), faces)[:, face]  # (B, n, 3)
        view = points.detach() if is_perspective(camera) else points.new_tensor([0.0, 0.0, 1.0])
        facing = (normals * view).sum(-1) < 0
        in_front = (shown_face >= 0) & facing & (z.detach() <= shown_depth + tol)
        visible = inside & (same_face | in_front)  # (B, n)

    colours = sample_image(image, xy) * visible[..., None].to(image.dtype)  # (B, n, C)
    C = image.shape[1]
    flat = colours.new_zeros(B, Ht * Wt, C).index_copy(1, texel, colours)
    valid = torch.zeros(B, Ht * Wt, dtype=torch.bool, device=vertices.device)
    valid[:, texel] = visible
    return BakedTexture(texture=flat.view(B, Ht, Wt, C).permute(0, 3, 1, 2), valid=valid.view(B, Ht, Wt))


def dilate_texture(
    texture: torch.Tensor, valid: torch.Tensor, iterations: int = 2
) -> tuple[torch.Tensor, torch.Tensor]:
    """Grow valid regions by `iterations` texels (mean of valid 3x3 neighbours), so that bilinear lookups
    near chart borders do not blend in invalid texels. Returns the texture and the grown mask."""
    tex = texture
    mask = valid[:, None].to(texture.dtype)
    kernel = torch.ones(1, 1, 3, 3, dtype=texture.dtype, device=texture.device)
    for _ in range(iterations):
        C = tex.shape[1]
        s = Fnn.conv2d(tex * mask, kernel.expand(C, 1, 3, 3), padding=1, groups=C)
        n = Fnn.conv2d(mask, kernel, padding=1)
        grow = (n > 0) & (mask == 0)
        tex = torch.where(grow, s / n.clamp_min(1), tex)
        mask = torch.where(grow, torch.ones_like(mask), mask)
    return tex, mask[:, 0] > 0
