"""Baking a UV texture map from a photo for the surface the camera sees (occlusion-aware texture).

Every texel inside a UV triangle stands for one surface point (barycentric in that face). The point is
projected into the photo; it is visible when the pixel it falls in shows the same face, or when its face
faces the camera (outward normals, counter-clockwise winding) and the pixel shows a surface no more than
`depth_tolerance` in front of it (neighbouring faces). Visible texels take the bilinear
sample of the photo there; the others are marked invalid. UVs follow the OBJ convention (v up), see
`render.sampling`.

The rasterized UV layout depends only on the model, so it is cached (keyed by the UVs' contents); the
photo is rasterized only over the rectangle the mesh can cover (`rasterize(..., crop=True)`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from handrecon.render.rasterize import Camera, Fragments, is_perspective, rasterize, rasterize_screen
from handrecon.render.sampling import sample_image, uv_to_texel
from handrecon.texture.cache import ContentCache
from handrecon.texture.visibility import visible_faces

_UV_LAYOUTS = ContentCache(maxsize=8)


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


@dataclass(frozen=True)
class _TexelLayout:
    """The covered texels of a UV layout: texel index, face, barycentrics (n, 3), and which texels have
    barycentrics far outside their face (degenerate UV triangles), for which no bound below holds."""

    texel: torch.Tensor
    face: torch.Tensor
    bary: torch.Tensor
    irregular: torch.Tensor


_BARY_SLACK = 1e-4  # regular texels: barycentrics within [-slack, 1 + slack], summing to 1 within slack


def _uv_layout(corner_uvs: torch.Tensor, height: int, width: int) -> _TexelLayout:
    """The texel layout of UVs (1, F, 3, 2). Cached, since it depends only on the model's UVs; recomputed
    when UVs need gradients."""

    def compute() -> _TexelLayout:
        uvf = rasterize_uv(corner_uvs, height, width)
        b = uvf.fg_bary.detach()
        regular = ((b >= -_BARY_SLACK) & (b <= 1 + _BARY_SLACK)).all(-1) & ((b.sum(-1) - 1).abs() <= _BARY_SLACK)
        return _TexelLayout(uvf.fg_pixel, uvf.fg_face, uvf.fg_bary, ~regular)

    if corner_uvs.requires_grad:
        return compute()
    return _UV_LAYOUTS.get((corner_uvs,), (height, width), compute)


def _candidate_texels(
    layout: _TexelLayout,
    vertices: torch.Tensor,
    corners: torch.Tensor,
    normals: torch.Tensor,
    fragments: Fragments,
    perspective: bool,
) -> torch.Tensor:
    """Indices into the layout of the texels that may be visible; the others need not be computed.

    A texel is visible only if its face is shown at some pixel, or if it faces the camera (negative dot
    product of the face normal and the view direction at the texel's point). The view direction at a
    point of a face is a convex combination of those at its corners, so faces whose corners all lie more
    than a margin behind their plane never face the camera. The margin (1e-3 of the mesh's extent) is far
    above the rounding of a texel's point and dot product, and above the barycentric slack of regular
    texels; irregular texels are always kept. Skipping the others therefore changes no result.
    """
    F = corners.shape[1]
    v = vertices.detach()
    extent = float(v.abs().amax()) if v.numel() else 0.0
    if not math.isfinite(extent):
        return torch.arange(layout.face.numel(), device=v.device)
    if perspective:
        d = [_dot3(normals, corners[:, :, k]) for k in range(3)]
        nearest = torch.minimum(torch.minimum(d[0], d[1]), d[2])
    else:
        nearest = normals[..., 2]
    may_face = (nearest < 1e-3 * extent).any(0)
    candidate = visible_faces(fragments, F).any(0) | may_face  # (F,)
    return (candidate.index_select(0, layout.face) | layout.irregular).nonzero().squeeze(1)


def _shown_surface(fragments: Fragments, xy: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Face id and depth shown at the pixels holding image points xy (B, n, 2): face -1 and depth 0 off the
    rasterized pixels (outside the image, or outside a cropped rasterization, where nothing is shown)."""
    B, h, w = fragments.shape
    col = torch.floor(xy[..., 0]) - fragments.origin[0]
    row = torch.floor(xy[..., 1]) - fragments.origin[1]
    off = ~((col >= 0) & (col < w) & (row >= 0) & (row < h))  # also NaN
    pix = row.masked_fill(off, 0).long() * w + col.masked_fill(off, 0).long()
    if B > 1:
        pix = pix + torch.arange(B, device=xy.device)[:, None] * (h * w)
    pix = pix.reshape(-1)
    face = fragments.face_idx.reshape(-1).index_select(0, pix).view(B, -1).masked_fill_(off, -1)
    depth = fragments.depth.detach().reshape(-1).index_select(0, pix).view(B, -1).masked_fill_(off, 0)
    return face, depth


def _face_corners(vertices: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """(B, F, 3, 3): the corners of each face (one row gather, shared by the normals, the candidate test
    and the surface points)."""
    B, F = vertices.shape[0], faces.shape[0]
    return vertices.index_select(1, faces.reshape(-1)).view(B, F, 3, 3)


def _unit_normals(corners: torch.Tensor) -> torch.Tensor:
    """`geometry.mesh.face_normals` from the face corners (B, F, 3, 3): the same operations, so the same bits."""
    n = torch.cross(corners[:, :, 1] - corners[:, :, 0], corners[:, :, 2] - corners[:, :, 0], dim=-1)
    return torch.nn.functional.normalize(n, dim=-1, eps=1e-12)


def _surface_points(corners: torch.Tensor, face: torch.Tensor, bary: torch.Tensor):
    """Points (B, n, 3) at barycentrics bary (n, 3) in faces face (n,) of meshes with face corners (B, F, 3, 3).

    Rounds exactly like `(vertices[:, faces[face]] * bary[..., None]).sum(2)` (corners added in order), but
    with row gathers and without the slow reduction over a short axis.
    """
    B, F = corners.shape[:2]
    corners = corners.reshape(B, F, 9).index_select(1, face).view(B, -1, 3, 3)
    w = bary[None, :, :, None]
    return (corners[:, :, 0] * w[:, :, 0] + corners[:, :, 1] * w[:, :, 1]) + corners[:, :, 2] * w[:, :, 2]


def _dot3(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(a * b).sum(-1) for 3-vectors, added in order (same rounding, without the short-axis reduction)."""
    return (a[..., 0] * b[..., 0] + a[..., 1] * b[..., 1]) + a[..., 2] * b[..., 2]


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
        fragments = rasterize(vertices, faces, camera, crop=True)
    layout = _uv_layout(corner_uvs.to(device=vertices.device, dtype=vertices.dtype), Ht, Wt)
    corners = _face_corners(vertices, faces)
    with torch.no_grad():
        face_normal = _unit_normals(corners.detach())  # (B, F, 3)
        keep = _candidate_texels(layout, vertices, corners.detach(), face_normal, fragments, is_perspective(camera))
    texel, face, bary = (t.index_select(0, keep) for t in (layout.texel, layout.face, layout.bary))

    # Surface point of each texel in each mesh, projected into the photo.
    points = _surface_points(corners, face, bary)  # (B, n, 3)
    xy, z = camera.project(points)
    xy = xy.expand(B, -1, -1)

    with torch.no_grad():
        # Points off the image fall off the rasterized pixels too: they show face -1 and are not visible.
        shown_face, shown_depth = _shown_surface(fragments, xy.detach())
        shown_depth = shown_depth.to(z.dtype)
        if depth_tolerance is None:
            tol = 2.0 * pixel_footprint(camera, z.detach())
        else:
            tol = torch.full_like(z, float(depth_tolerance))
        # The texel's own face owns the pixel, or the texel lies on a camera-facing face no farther than
        # the tolerance behind the surface shown there (texels near edges between faces).
        same_face = shown_face == face[None]
        normals = face_normal.index_select(1, face)  # (B, n, 3)
        view = points.detach() if is_perspective(camera) else points.new_tensor([0.0, 0.0, 1.0]).expand_as(normals)
        facing = _dot3(normals, view) < 0
        in_front = (shown_face >= 0) & facing & (z.detach() <= shown_depth + tol)
        visible = torch.isfinite(z) & (same_face | in_front)  # (B, n)

    colours = sample_image(image, xy) * visible[..., None].to(image.dtype)  # (B, n, C)
    C = image.shape[1]
    # In place into fresh buffers (the out-of-place index_copy first copies the whole zero map).
    flat = colours.new_zeros(B, Ht * Wt, C).index_copy_(1, texel, colours)
    valid = torch.zeros(B, Ht * Wt, dtype=torch.bool, device=vertices.device).index_copy_(1, texel, visible)
    return BakedTexture(texture=flat.view(B, Ht, Wt, C).permute(0, 3, 1, 2), valid=valid.view(B, Ht, Wt))


def dilate_texture(
    texture: torch.Tensor, valid: torch.Tensor, iterations: int = 2
) -> tuple[torch.Tensor, torch.Tensor]:
    """Grow valid regions by `iterations` texels (mean of valid 3x3 neighbours), so that bilinear lookups
    near chart borders do not blend in invalid texels. Returns the texture and the grown mask.

    For output maps: no gradient flows through it (a texture that requires one is refused). Values at
    invalid texels are ignored (they add zero to a neighbour's sum even when they are not finite).
    """
    if texture.requires_grad:
        raise ValueError("dilate_texture works on output maps: the texture must not require gradients")
    B, C, H, W = texture.shape
    n = B * H * W
    # Channels last (a texel's channels are one row to gather), plus one zero texel that stands for every
    # invalid neighbour. The mask has a border of invalid texels, so that the 3x3 neighbours of a texel are
    # plain offsets of its flat index there; a valid neighbour is never in the border, so the same offsets
    # (in the unbordered width) find its values in the texture.
    out = np.empty((n + 1, C), dtype=torch.empty(0, dtype=texture.dtype).numpy().dtype)
    out[:n].reshape(B, H, W, C)[...] = texture.detach().cpu().permute(0, 2, 3, 1).numpy()
    out[n] = 0
    mask = np.zeros((B, H + 2, W + 2), dtype=bool)
    mask[:, 1:-1, 1:-1] = valid.cpu().numpy()
    for _ in range(iterations):
        if not _grow_once(out, mask):
            break
    tex = torch.from_numpy(out[:n].reshape(B, H, W, C)).to(texture.device)
    return tex.permute(0, 3, 1, 2), torch.from_numpy(mask[:, 1:-1, 1:-1]).to(valid.device)


def _grow_once(out: np.ndarray, mask: np.ndarray) -> bool:
    """One dilation step of `dilate_texture`'s texels out (B * H * W + 1, C) and bordered mask
    (B, H + 2, W + 2), in place, computed at the newly grown texels only (a thin ring around the valid
    charts) instead of convolving the whole map. False when nothing grows.

    The 3x3 sums add the neighbours in row-major order, as the 3x3 convolution this replaces did, so that
    the results stay the same to the bit.
    """
    B, Hp, Wp = mask.shape
    H, W = Hp - 2, Wp - 2
    near = mask[:, :-2] | mask[:, 1:-1] | mask[:, 2:]  # (B, H, W + 2): a valid texel in the column of 3
    near = near[:, :, :-2] | near[:, :, 1:-1] | near[:, :, 2:]  # (B, H, W): in the 3x3 neighbourhood
    at = np.flatnonzero(near & ~mask[:, 1:-1, 1:-1])  # texel index b * H * W + y * W + x
    if at.size == 0:
        return False
    b, rest = np.divmod(at, H * W)
    at_mask = at + (b * (Hp * Wp - H * W) + 2 * (rest // W) + Wp + 1)  # the same texels in the bordered mask
    steps = [(di, dj) for di in (-1, 0, 1) for dj in (-1, 0, 1)]  # row-major
    seen = mask.reshape(-1).take(at_mask + np.array([di * Wp + dj for di, dj in steps])[:, None])  # (9, m)
    taps = np.where(seen, at + np.array([di * W + dj for di, dj in steps])[:, None], out.shape[0] - 1)
    C = out.shape[1]
    rows = out.view(np.dtype((np.void, C * out.itemsize))).reshape(-1)  # a texel's channels as one item
    values = rows.take(taps).view(out.dtype).reshape(9, -1, C)
    sums = values[0] + values[1]
    for k in range(2, 9):
        sums += values[k]
    counts = seen.sum(0, dtype=np.int64).astype(out.dtype)  # small integers: exact
    out[at] = sums / counts[:, None]
    mask.reshape(-1)[at_mask] = True
    return True
