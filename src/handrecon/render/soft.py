"""Soft rasterization in the manner of SoftRas (Liu et al. 2019): a silhouette and colours that are smooth
functions of the vertex positions, so that silhouette and photometric losses have gradients everywhere
near the mesh outline.

Each face j gives pixel i the probability D_j(i) = sigmoid(delta_ij * d^2(i, j) / sigma), where d is the
screen distance from the pixel centre to the face's boundary (pixels) and delta = +1 inside the face, -1
outside; sigma is in pixels^2. The silhouette is A(i) = 1 - prod_j (1 - D_j(i)), accumulated as a sum of
log-sigmoids for stability. Colours use the depth-aware softmax
    I(i) = sum_j w_j C_j(i) + w_b C_b,  w_j = D_j exp(z_j / gamma) / (sum_k D_k exp(z_k / gamma) + exp(eps / gamma)),
with z_j = (z_far - z) / (z_far - z_near) the normalised inverse depth of the face at the pixel and C_j the
face colour at the pixel (barycentrics clamped to the face). Pairs with D_j < min_prob are skipped; they
are found in a no-grad pass over face bounding boxes grown by sqrt(sigma * log(1 / min_prob - 1)), on each
box row only between the edges of the face moved outward by that distance (and a little rounding slack).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as Fnn

from handrecon.render.candidates import ConvexRegions, face_pixel_ranges, iter_pixel_pairs
from handrecon.render.rasterize import DEFAULT_ZNEAR, Camera, _check_faces, is_perspective, to_screen

DEFAULT_SIGMA = 0.5  # pixels^2: about 1e-4 in SoftRas' normalised device units for a 128-pixel image
DEFAULT_GAMMA = 1e-4
DEFAULT_EPS = 1e-3


@dataclass
class SoftRaster:
    """alpha: (B, H, W) soft silhouette in [0, 1]; features: (B, H, W, C) soft-aggregated attributes or None."""

    alpha: torch.Tensor
    features: torch.Tensor | None


def influence_margin(sigma: float, min_prob: float) -> float:
    """Distance (pixels) beyond which an outside face's probability drops below min_prob."""
    return math.sqrt(sigma * math.log(1.0 / min_prob - 1.0))


def _edge_geometry(tri: torch.Tensor, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Squared distance (n,) from points (n, 2) to the boundary of triangles (n, 3, 2); screen barycentrics (n, 3)."""
    a = tri
    e = tri.roll(-1, dims=1) - a  # edges 0->1, 1->2, 2->0
    ap = points[:, None, :] - a
    t = ((ap * e).sum(-1) / (e * e).sum(-1).clamp_min(1e-30)).clamp(0.0, 1.0)
    d2 = (ap - t[..., None] * e).square().sum(-1).amin(-1)
    # Screen barycentric of corner k is the signed area opposite to it: edge (k+1 -> k+2).
    cross = e[:, :, 0] * ap[:, :, 1] - e[:, :, 1] * ap[:, :, 0]  # edge k vs point, (n, 3)
    area2 = e[:, 0, 0] * (-e[:, 2, 1]) - e[:, 0, 1] * (-e[:, 2, 0])
    w = cross.roll(-1, dims=1) / area2[:, None]
    return d2, w


def _influence_regions(tri: torch.Tensor, margin: float) -> ConvexRegions:
    """Per face (tri: (N, 3, 2)), the triangle with each edge moved `margin` pixels outward plus a rounding
    slack: it holds every point inside the face or within `margin` of it, as `_edge_geometry` computes them.

    Slivers (area under a thousandth of the squared longest edge, whose offset corners reach far) and
    non-finite faces get no limit (their whole box)."""
    t = tri.to(torch.float64)
    e = t.roll(-1, dims=1) - t  # edge k from corner k to k + 1
    length2 = (e * e).sum(-1)
    area2 = e[:, 0, 0] * e[:, 1, 1] - e[:, 0, 1] * e[:, 1, 0]
    # Inward unit normal of each edge: left of the edge for counter-clockwise (positive area) faces.
    sign = torch.where(area2 >= 0, 1.0, -1.0)[:, None]
    length = length2.sqrt()
    nx, ny = -e[..., 1] * sign / length, e[..., 0] * sign / length
    scale = t.abs().amax((1, 2)) + length.amax(1)
    slack = 1e-3 + 64 * torch.finfo(tri.dtype).eps * scale
    o = t[:, 0]
    rel = t - o[:, None]  # corner k relative to corner 0
    c = -(nx * rel[..., 0] + ny * rel[..., 1]) + (margin + slack)[:, None]
    ok = (area2.abs() >= 1e-3 * length2.amax(1)) & torch.isfinite(c).all(1) & torch.isfinite(nx).all(1)
    ok = ok & torch.isfinite(ny).all(1)
    free = ~ok[:, None]
    return ConvexRegions(
        ox=torch.nan_to_num(o[:, 0], nan=0.0, posinf=0.0, neginf=0.0),
        oy=torch.nan_to_num(o[:, 1], nan=0.0, posinf=0.0, neginf=0.0),
        a=nx.masked_fill(free, 0.0).T.contiguous(),
        b=ny.masked_fill(free, 0.0).T.contiguous(),
        c=c.masked_fill(free, 1.0).T.contiguous(),
    )


def _candidate_pairs(
    xy: torch.Tensor, z: torch.Tensor, faces: torch.Tensor, height: int, width: int, perspective: bool,
    sigma: float, min_prob: float, znear: float, max_pairs: int,
) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """No-grad search for (flat face, flat pixel) pairs with D_j >= min_prob."""
    B, _ = z.shape
    F = faces.shape[0]
    margin = influence_margin(sigma, min_prob)
    with torch.no_grad():
        tri = xy.detach()[:, faces]
        tz = z.detach()[:, faces]
        keep = (tz > znear).all(-1) if perspective else torch.isfinite(tz).all(-1)
        e1 = tri[..., 1, :] - tri[..., 0, :]
        e2 = tri[..., 2, :] - tri[..., 0, :]
        keep = keep & ((e1[..., 0] * e2[..., 1] - e1[..., 1] * e2[..., 0]) != 0)
        x0, x1, y0, y1 = face_pixel_ranges(tri, height, width, margin)
        flat_tri = tri.reshape(B * F, 3, 2)
        regions = _influence_regions(flat_tri, margin)
        found_face, found_pix = [], []
        for pairs in iter_pixel_pairs(x0, x1, y0, y1, keep, max_pairs, regions):
            pts = torch.stack([pairs.px, pairs.py], -1).to(xy.dtype) + 0.5
            d2, w = _edge_geometry(flat_tri.index_select(0, pairs.face), pts)
            inside = (w >= 0).all(-1)
            near = inside | (d2 <= margin * margin)
            b = torch.div(pairs.face, F, rounding_mode="floor")
            found_face.append(pairs.face[near])
            found_pix.append(((b * height + pairs.py) * width + pairs.px)[near])
    if not found_face:
        empty = torch.zeros(0, dtype=torch.long, device=xy.device)
        return empty, empty
    return torch.cat(found_face), torch.cat(found_pix)


def soft_rasterize_screen(
    xy: torch.Tensor,
    z: torch.Tensor,
    faces: torch.Tensor,
    height: int,
    width: int,
    perspective: bool,
    corner_attrs: torch.Tensor | None = None,
    sigma: float = DEFAULT_SIGMA,
    gamma: float = DEFAULT_GAMMA,
    background: float | torch.Tensor = 0.0,
    eps: float = DEFAULT_EPS,
    depth_range: tuple[float, float] | None = None,
    min_prob: float = 1e-4,
    znear: float = DEFAULT_ZNEAR,
    max_pairs: int = 1 << 22,
) -> SoftRaster:
    """Soft silhouette (and soft-aggregated attributes) of meshes in pixel coordinates.

    xy: (B, V, 2), z: (B, V), faces: (F, 3), corner_attrs: (B, F, 3, C) or (F, 3, C) per face corner.
    depth_range: (z_near, z_far) for the normalised depth of the colour softmax; by default z_near is the
    nearest vertex and z_far lies as far behind the farthest vertex as that is behind z_near (detached,
    per mesh), so the mesh spans normalised depths [0.5, 1] and any covered pixel outweighs the background.
    """
    if sigma <= 0 or gamma <= 0 or not (0 < min_prob < 0.5):
        raise ValueError(f"need sigma > 0, gamma > 0 and 0 < min_prob < 0.5, got {sigma}, {gamma}, {min_prob}")
    B, V = z.shape
    faces = _check_faces(faces, V, xy.device)
    F = faces.shape[0]
    HW = height * width
    face, pix = _candidate_pairs(xy, z, faces, height, width, perspective, sigma, min_prob, znear, max_pairs)
    b = torch.div(face, F, rounding_mode="floor")
    corner = (b[:, None] * V + faces[face - b * F]).reshape(-1)
    tri = xy.reshape(-1, 2).index_select(0, corner).view(-1, 3, 2)
    col = (pix % width).to(xy.dtype) + 0.5
    row = (torch.div(pix, width, rounding_mode="floor") % height).to(xy.dtype) + 0.5
    d2, w = _edge_geometry(tri, torch.stack([col, row], -1))
    inside = (w.detach() >= 0).all(-1)
    logit = torch.where(inside, d2, -d2) / sigma
    log_not_covered = xy.new_zeros(B * HW).index_add(0, pix, Fnn.logsigmoid(-logit))
    alpha = (1.0 - torch.exp(log_not_covered)).view(B, height, width)
    if corner_attrs is None:
        return SoftRaster(alpha=alpha, features=None)

    # Colour of each face at the pixel: barycentrics clamped to the face, perspective-corrected.
    tz = z.reshape(-1).index_select(0, corner).view(-1, 3)
    wc = w.clamp(0.0, 1.0)
    wc = wc / wc.sum(-1, keepdim=True).clamp_min(1e-12)
    if perspective:
        t = wc / tz
        s = t.sum(-1, keepdim=True)
        bary, depth = t / s, 1.0 / s.squeeze(-1)
    else:
        bary, depth = wc, (wc * tz).sum(-1)
    if corner_attrs.dim() == 3:
        corner_attrs = corner_attrs.unsqueeze(0)
    Bc, Fc, _, C = corner_attrs.shape
    if Fc != F or Bc not in (1, B):
        raise ValueError(f"corner attributes {tuple(corner_attrs.shape)} do not match B={B}, F={F}")
    rows = face - b * F if Bc == 1 else face
    colour = (corner_attrs.reshape(Bc * F, 3, C).index_select(0, rows) * bary.to(corner_attrs.dtype)[..., None]).sum(1)

    if depth_range is None:  # nearest vertex -> 1, farthest -> 0.5: every face outweighs the background
        zd = z.detach()
        zmin, zmax = zd.amin(1), zd.amax(1)
        zmax = zmax + (zmax - zmin).clamp_min(1e-6 * (1.0 + zmax.abs()))  # flat-depth meshes too
    else:
        zmin = z.new_full((B,), float(depth_range[0]))
        zmax = z.new_full((B,), float(depth_range[1]))
    span = (zmax - zmin).clamp_min(1e-12)
    znorm = (zmax[b] - depth) / span[b]
    log_w = Fnn.logsigmoid(logit) + znorm / gamma
    with torch.no_grad():
        shift = xy.new_full((B * HW,), eps / gamma).scatter_reduce(0, pix, log_w.detach(), reduce="amax")
    num = torch.exp(log_w - shift[pix])
    bg_w = torch.exp(eps / gamma - shift)
    denom = bg_w.index_add(0, pix, num)
    acc = colour.new_zeros(B * HW, C).index_add(0, pix, num[:, None].to(colour.dtype) * colour)
    bg = torch.as_tensor(background, dtype=colour.dtype, device=colour.device).expand(C)
    features = (acc + bg_w[:, None].to(colour.dtype) * bg) / denom[:, None].to(colour.dtype)
    return SoftRaster(alpha=alpha, features=features.view(B, height, width, C))


def soft_rasterize(
    vertices: torch.Tensor,
    faces: torch.Tensor,
    camera: Camera,
    corner_attrs: torch.Tensor | None = None,
    **kwargs,
) -> SoftRaster:
    """Soft rasterization of camera-frame meshes (B, V, 3); see `soft_rasterize_screen` for the options."""
    xy, z = to_screen(vertices, camera)
    return soft_rasterize_screen(
        xy, z, faces, camera.height, camera.width, is_perspective(camera), corner_attrs=corner_attrs, **kwargs
    )


def soft_silhouette(
    vertices: torch.Tensor, faces: torch.Tensor, camera: Camera, sigma: float = DEFAULT_SIGMA, **kwargs
) -> torch.Tensor:
    """(B, H, W) differentiable silhouette of camera-frame meshes (B, V, 3)."""
    return soft_rasterize(vertices, faces, camera, sigma=sigma, **kwargs).alpha
