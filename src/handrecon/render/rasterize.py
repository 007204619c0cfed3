"""Hard rasterization with a z-buffer: per-pixel face id, barycentric coordinates and depth.

Pixel (x, y) covers [x, x + 1) x [y, y + 1) in the camera's pixel coordinates; coverage is tested at its
centre (x + 0.5, y + 0.5). A pixel is covered by a face when all three (screen-space) barycentric
coordinates of its centre are >= 0 (up to a few ulps, so that pixels on shared edges are never dropped);
both windings are rasterized unless back faces are culled. The nearest covering face wins; ties go to the
higher face index. The depth test packs (depth key, face) into one int64 per pair so that a single
scatter-max resolves it; the key is rounded to float32 there, also for float64 meshes (depth differences
below float32 resolution count as ties), while barycentrics and depth are returned in the input dtype.

The search runs without autograd over candidate (face, pixel) pairs: on each row of a face's bounding box,
the pixels between its (slightly loosened) edges, a superset of those the coverage test accepts; the
winning pixels are then re-evaluated with autograd so that barycentrics and depth are differentiable
w.r.t. vertex positions for the fixed face assignment. Perspective cameras get perspective-correct
barycentrics (interpolation of 1/z); weak-perspective cameras interpolate linearly in screen space.

With `crop`, the buffers cover only the smallest pixel rectangle holding every pixel a face could cover
(`Fragments.origin` says where it lies in the image): the same arithmetic in the image's pixel
coordinates, so the result equals the full rasterization there, and everything outside is background.
That saves the full-image buffers when a small mesh is seen in a large photo.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from handrecon.geometry.camera import PerspectiveCamera, WeakPerspectiveCamera
from handrecon.render.candidates import ConvexRegions, PixelPairs, face_pixel_ranges, iter_pixel_pairs

Camera = PerspectiveCamera | WeakPerspectiveCamera

_BACKGROUND = torch.iinfo(torch.int64).min  # packed z-buffer value of an empty pixel
DEFAULT_ZNEAR = 1e-3  # metres; perspective faces with a vertex nearer than this are dropped (no clipping)


def coverage_tolerance(dtype: torch.dtype) -> float:
    """Slack on barycentric signs: pixels on an edge shared by two faces must be covered by at least one."""
    return 1e-5 if dtype in (torch.float16, torch.bfloat16, torch.float32) else 1e-12


@dataclass
class Fragments:
    """Rasterizer output for B images of H x W pixels.

    face_idx: (B, H, W) long, index into the mesh's faces, -1 on background.
    bary: (B, H, W, 3) barycentric coordinates of the pixel centre (perspective-correct for perspective
        cameras), zeros on background.
    depth: (B, H, W) camera-frame z of the visible surface, zeros on background.
    The fg_* fields list the covered pixels only (flattened index into B * H * W); interpolation and
    texture code work on them to avoid touching background pixels.
    origin: (x, y) image pixel of the buffers' pixel (0, 0); not (0, 0) only for cropped rasterizations,
        whose H x W is a rectangle of the camera image and whose pixels outside it are all background.
    """

    face_idx: torch.Tensor
    bary: torch.Tensor
    depth: torch.Tensor
    fg_pixel: torch.Tensor  # (n,) long, flat index b * H * W + y * W + x
    fg_batch: torch.Tensor  # (n,) long
    fg_face: torch.Tensor  # (n,) long, face index within the mesh
    fg_bary: torch.Tensor  # (n, 3)
    fg_depth: torch.Tensor  # (n,)
    origin: tuple[int, int] = (0, 0)

    @property
    def mask(self) -> torch.Tensor:
        """(B, H, W) bool, True where a face is visible."""
        return self.face_idx >= 0

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.face_idx.shape)  # type: ignore[return-value]


def is_perspective(camera: Camera) -> bool:
    """True for cameras that need perspective-correct interpolation."""
    if isinstance(camera, PerspectiveCamera):
        return True
    if isinstance(camera, WeakPerspectiveCamera):
        return False
    raise TypeError(f"unsupported camera type {type(camera).__name__}")


def to_screen(vertices: torch.Tensor, camera: Camera) -> tuple[torch.Tensor, torch.Tensor]:
    """Camera-frame vertices (B, V, 3) -> pixel coordinates (B, V, 2) and depth z (B, V)."""
    if vertices.dim() != 3 or vertices.shape[-1] != 3:
        raise ValueError(f"vertices must be (B, V, 3), got {tuple(vertices.shape)}")
    xy, z = camera.project(vertices)
    if xy.shape[0] != vertices.shape[0]:  # a camera batch of one broadcast against B meshes
        xy = xy.expand(vertices.shape[0], -1, -1)
    return xy, z


def _check_faces(faces: torch.Tensor, num_vertices: int, device: torch.device) -> torch.Tensor:
    if faces.dim() != 2 or faces.shape[1] != 3:
        raise ValueError(f"faces must be (F, 3), got {tuple(faces.shape)}")
    faces = faces.to(device=device, dtype=torch.long)
    if faces.numel() and (int(faces.min()) < 0 or int(faces.max()) >= num_vertices):
        raise ValueError(f"face indices must lie in [0, {num_vertices}), got [{int(faces.min())}, {int(faces.max())}]")
    return faces


def _face_coefficients(
    tri: torch.Tensor, key_corners: torch.Tensor, cull_backfaces: bool, keep: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per face: affine barycentric and depth-key coefficients relative to corner 0, and validity.

    Returns (9, ...): rows x0, y0, a1, b1, a2, b2, k0, k1 - k0, k2 - k0 with w1 = a1 qx + b1 qy,
    w2 = a2 qx + b2 qy, q = p - p0, and the depth key affine in the barycentrics. One row per coefficient,
    so that per-pair gathers read contiguous vectors.
    """
    p0 = tri[..., 0, :]
    e1 = tri[..., 1, :] - p0
    e2 = tri[..., 2, :] - p0
    area2 = e1[..., 0] * e2[..., 1] - e1[..., 1] * e2[..., 0]
    inv = 1.0 / area2
    coef = torch.stack(
        [
            p0[..., 0],
            p0[..., 1],
            e2[..., 1] * inv,
            -e2[..., 0] * inv,
            -e1[..., 1] * inv,
            e1[..., 0] * inv,
            key_corners[..., 0],
            key_corners[..., 1] - key_corners[..., 0],
            key_corners[..., 2] - key_corners[..., 0],
        ]
    )
    keep = keep & (area2 != 0) & torch.isfinite(coef).all(0)
    if cull_backfaces:
        # In pixel coordinates (x right, y down) a face whose outward normal (counter-clockwise winding)
        # points at the camera has a negative signed area.
        keep = keep & (area2 < 0)
    return coef, keep


def _float_order_key(x: torch.Tensor) -> torch.Tensor:
    """float32 -> int64 whose integer order matches the float order (for packing into one scatter)."""
    bits = x.float().view(torch.int32)
    return torch.where(bits < 0, bits ^ 0x7FFFFFFF, bits).to(torch.int64)  # in int32: half the memory traffic


def _pair_coverage(coef_t: torch.Tensor, pairs: PixelPairs, tol: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Whether each candidate pair's pixel centre is inside its face, and the depth key there.

    coef_t: (9, B * F) rows of `_face_coefficients`, gathered row by row so that the arithmetic runs on
    contiguous vectors (same arithmetic as one gather of (P, 9) and strided columns, several times faster).
    """
    c = [row.index_select(0, pairs.face) for row in coef_t]
    qx = pairs.px.to(c[0].dtype) + 0.5 - c[0]
    qy = pairs.py.to(c[0].dtype) + 0.5 - c[1]
    w1 = c[2] * qx + c[3] * qy
    w2 = c[4] * qx + c[5] * qy
    inside = (w1 >= -tol) & (w2 >= -tol) & (w1 + w2 <= 1 + tol)
    return inside, c[6] + c[7] * w1 + c[8] * w2


def _coverage_regions(
    coef_t: torch.Tensor, x0: torch.Tensor, x1: torch.Tensor, y0: torch.Tensor, y1: torch.Tensor, tol: float
) -> ConvexRegions:
    """Per face, a region holding every pixel centre of its box that `_pair_coverage` can accept.

    The three inequalities of `_pair_coverage` on the same coefficients, in exact arithmetic, each loosened
    by a bound on the rounding of its evaluation in the coefficients' dtype over the face's box
    (|w| terms times a few ulps), so that the spans drop only pixels the test would reject.
    """
    c = coef_t.to(torch.float64)
    x0, x1, y0, y1 = (t.reshape(-1).to(torch.float64) for t in (x0, x1, y0, y1))
    qx = torch.maximum((x0 + 0.5 - c[0]).abs(), (x1 + 0.5 - c[0]).abs())  # largest |qx|, |qy| in the box
    qy = torch.maximum((y0 + 0.5 - c[1]).abs(), (y1 + 0.5 - c[1]).abs())
    ulps = 16 * torch.finfo(coef_t.dtype).eps
    slack1 = ulps * (c[2].abs() * qx + c[3].abs() * qy + 1)
    slack2 = ulps * (c[4].abs() * qx + c[5].abs() * qy + 1)
    a = torch.stack([c[2], c[4], -(c[2] + c[4])])
    b = torch.stack([c[3], c[5], -(c[3] + c[5])])
    cc = torch.stack([tol + slack1, tol + slack2, 1 + tol + 2 * (slack1 + slack2)])
    bad = ~(torch.isfinite(a) & torch.isfinite(b) & torch.isfinite(cc)).all(0)  # box rows, unrestricted
    a, b = a.masked_fill(bad, 0.0), b.masked_fill(bad, 0.0)
    ox, oy = (torch.nan_to_num(t, nan=0.0, posinf=0.0, neginf=0.0) for t in (c[0], c[1]))
    return ConvexRegions(ox=ox, oy=oy, a=a, b=b, c=cc.masked_fill(bad, 1.0))


def _crop_window(
    x0: torch.Tensor, x1: torch.Tensor, y0: torch.Tensor, y1: torch.Tensor, keep: torch.Tensor
) -> tuple[int, int, int, int]:
    """(x, y, width, height) of the smallest pixel rectangle holding every kept face's candidate pixels.

    A 1 x 1 rectangle at (0, 0) when there are none, so that buffers are never empty.
    """
    dead = ~(keep & (x1 >= x0) & (y1 >= y0))
    far = 1 << 62
    lo = torch.stack([x0.reshape(-1), y0.reshape(-1)]).masked_fill_(dead.reshape(-1), far).amin(-1)
    hi = torch.stack([x1.reshape(-1), y1.reshape(-1)]).masked_fill_(dead.reshape(-1), -far).amax(-1)
    left, top, right, bottom = torch.cat([lo, hi]).tolist()
    if right < left:  # no face covers any pixel
        return 0, 0, 1, 1
    return left, top, right - left + 1, bottom - top + 1


def rasterize_screen(
    xy: torch.Tensor,
    z: torch.Tensor,
    faces: torch.Tensor,
    height: int,
    width: int,
    perspective: bool,
    znear: float = DEFAULT_ZNEAR,
    cull_backfaces: bool = False,
    max_pairs: int = 1 << 23,
    crop: bool = False,
) -> Fragments:
    """Rasterize meshes already in pixel coordinates.

    xy: (B, V, 2) pixel coordinates, z: (B, V) depth (camera z; smaller is nearer), faces: (F, 3) shared
    by the batch. With `perspective`, barycentrics are perspective-correct and faces with a vertex at
    z <= znear are dropped. Also used to rasterize UV layouts (perspective=False, constant z). With `crop`,
    the fragments cover only the rectangle of the image that the faces can cover (see the module doc).
    """
    if xy.dim() != 3 or xy.shape[-1] != 2 or z.shape != xy.shape[:2]:
        raise ValueError(f"expected xy (B, V, 2) and z (B, V), got {tuple(xy.shape)} and {tuple(z.shape)}")
    if height <= 0 or width <= 0:
        raise ValueError(f"image size must be positive, got {height}x{width}")
    B, V = z.shape
    faces = _check_faces(faces, V, xy.device)
    F = faces.shape[0]
    with torch.no_grad():
        corners = faces.reshape(-1)
        tri = xy.detach().index_select(1, corners).view(B, F, 3, 2)
        tz = z.detach().index_select(1, corners).view(B, F, 3)
        if perspective:
            keep = (tz > znear).all(-1)
            key = 1.0 / tz.clamp_min(znear)  # inverse depth: larger is nearer, affine in screen space
        else:
            keep = torch.isfinite(tz).all(-1)
            key = -tz
        coef, keep = _face_coefficients(tri, key, cull_backfaces, keep)
        coef_t = coef.reshape(9, B * F)
        x0, x1, y0, y1 = face_pixel_ranges(tri, height, width)
        # From here on height x width is the buffers' size, at image pixel (ox, oy).
        ox, oy, width, height = _crop_window(x0, x1, y0, y1, keep) if crop else (0, 0, width, height)
        HW = height * width
        tol = coverage_tolerance(xy.dtype)
        best = torch.full((B * HW,), _BACKGROUND, dtype=torch.int64, device=xy.device)
        regions = _coverage_regions(coef_t, x0, x1, y0, y1, tol)
        for pairs in iter_pixel_pairs(x0, x1, y0, y1, keep, max_pairs, regions):
            inside, k = _pair_coverage(coef_t, pairs, tol)
            pix = pairs.py * width + pairs.px - (oy * width + ox)
            face = pairs.face
            if B > 1:
                b = torch.div(face, F, rounding_mode="floor")
                pix = pix + b * HW
                face = face - b * F
            packed = (_float_order_key(k) << 32) | face
            # Uncovered pairs scatter the background value, a no-op for amax (cheaper than compacting).
            best.scatter_reduce_(0, pix, torch.where(inside, packed, _BACKGROUND), reduce="amax")
        covered = best != _BACKGROUND
        fg_pixel = covered.nonzero().squeeze(1)
        fg_face = best[fg_pixel] & 0xFFFFFFFF
        fg_batch = torch.div(fg_pixel, HW, rounding_mode="floor")
    fg_bary, fg_depth = barycentrics_at_pixels(
        xy, z, faces, fg_batch, fg_face, fg_pixel, height, width, perspective, origin=(ox, oy)
    )

    face_idx = torch.full((B * HW,), -1, dtype=torch.long, device=xy.device)
    face_idx[fg_pixel] = fg_face
    bary = xy.new_zeros(B * HW, 3).index_copy(0, fg_pixel, fg_bary)
    depth = xy.new_zeros(B * HW).index_copy(0, fg_pixel, fg_depth)
    return Fragments(
        face_idx=face_idx.view(B, height, width),
        bary=bary.view(B, height, width, 3),
        depth=depth.view(B, height, width),
        fg_pixel=fg_pixel,
        fg_batch=fg_batch,
        fg_face=fg_face,
        fg_bary=fg_bary,
        fg_depth=fg_depth,
        origin=(ox, oy),
    )


def barycentrics_at_pixels(
    xy: torch.Tensor,
    z: torch.Tensor,
    faces: torch.Tensor,
    batch: torch.Tensor,
    face: torch.Tensor,
    pixel: torch.Tensor,
    height: int,
    width: int,
    perspective: bool,
    origin: tuple[int, int] = (0, 0),
) -> tuple[torch.Tensor, torch.Tensor]:
    """Differentiable barycentrics (n, 3) and depth (n,) of the centres of pixels (flat b * H * W index) in faces.

    `origin` is the image pixel of buffer pixel (0, 0) for cropped buffers (see `Fragments.origin`).
    """
    base = batch * xy.shape[1]
    corners = [faces[:, k].index_select(0, face) + base for k in range(3)]  # flat vertex index per corner
    flat_xy = xy.reshape(-1, 2)
    xs = [flat_xy[:, 0].index_select(0, c) for c in corners]
    ys = [flat_xy[:, 1].index_select(0, c) for c in corners]
    zs = [z.reshape(-1).index_select(0, c) for c in corners]
    line = torch.div(pixel, width, rounding_mode="floor")
    col = (pixel - line * width + origin[0]).to(xy.dtype) + 0.5
    row = (line % height + origin[1]).to(xy.dtype) + 0.5
    return corner_barycentrics(xs, ys, zs, col, row, perspective)


def barycentrics_of_points(
    tri: torch.Tensor, tz: torch.Tensor, points: torch.Tensor, perspective: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Barycentrics (n, 3) and depth (n,) of screen points (n, 2) in screen triangles (n, 3, 2) with depths (n, 3).

    Perspective: screen barycentrics w are corrected to b_i = (w_i / z_i) / sum_j (w_j / z_j) and the depth
    is 1 / sum_j (w_j / z_j), i.e. exact for the 3D triangle; otherwise both are linear in screen space.
    """
    xs, ys, zs = ([tri[:, k, 0] for k in range(3)], [tri[:, k, 1] for k in range(3)], tz.unbind(-1))
    return corner_barycentrics(xs, ys, list(zs), points[:, 0], points[:, 1], perspective)


def corner_barycentrics(
    xs: list[Any],
    ys: list[Any],
    zs: list[Any],
    px: Any,
    py: Any,
    perspective: bool,
    stack: Callable[..., Any] = torch.stack,
    weights: bool = True,
) -> tuple[Any, Any]:
    """`barycentrics_of_points` on one (n,) vector per corner coordinate: contiguous vectors instead of
    strided slices of (n, 3, 2) (several times faster); sums over corners are added in corner order. Tensors,
    or NumPy arrays with `stack=np.stack` (`render.covered`: the same operations, so the same bits). With
    `weights=False` only the depth is computed (the same bits), and None stands for the barycentrics."""
    e1x, e1y = xs[1] - xs[0], ys[1] - ys[0]
    e2x, e2y = xs[2] - xs[0], ys[2] - ys[0]
    qx, qy = px - xs[0], py - ys[0]
    area2 = e1x * e2y - e1y * e2x
    w1 = (qx * e2y - qy * e2x) / area2
    w2 = (e1x * qy - e1y * qx) / area2
    w = (1 - w1 - w2, w1, w2)
    if not perspective:
        return (stack(w, -1) if weights else None), (w[0] * zs[0] + w[1] * zs[1]) + w[2] * zs[2]
    t = [wk / zk for wk, zk in zip(w, zs, strict=True)]
    s = (t[0] + t[1]) + t[2]
    return (stack([tk / s for tk in t], -1) if weights else None), 1.0 / s


def rasterize(
    vertices: torch.Tensor,
    faces: torch.Tensor,
    camera: Camera,
    znear: float = DEFAULT_ZNEAR,
    cull_backfaces: bool = False,
    max_pairs: int = 1 << 23,
    crop: bool = False,
) -> Fragments:
    """Rasterize camera-frame meshes (B, V, 3) with faces (F, 3) into camera.height x camera.width images.

    With `crop`, only into the rectangle of the image that the faces can cover (`Fragments.origin`).
    """
    xy, z = to_screen(vertices, camera)
    return rasterize_screen(
        xy,
        z,
        faces,
        camera.height,
        camera.width,
        perspective=is_perspective(camera),
        znear=znear,
        cull_backfaces=cull_backfaces,
        max_pairs=max_pairs,
        crop=crop,
    )


def submesh_fragments(fragments: Fragments, face_start: int, face_stop: int) -> Fragments:
    """The fragments of one mesh in a scene rasterized as several concatenated meshes.

    Faces [face_start, face_stop) of the scene become faces 0.. of the mesh; pixels won by other meshes
    keep their depth but get the face id `face_stop - face_start` (one past the mesh's last face), so
    they occlude the mesh without ever matching one of its faces. The covered-pixel lists keep only the
    mesh's own pixels.
    """
    fid = fragments.face_idx
    if face_start == 0 and (fid.numel() == 0 or int(fid.max()) < face_stop):
        return fragments  # every face shown is one of the mesh's (e.g. a scene of one mesh): nothing changes
    n = face_stop - face_start
    own = (fid >= face_start) & (fid < face_stop)
    face_idx = torch.where(own, fid - face_start, torch.where(fid >= 0, torch.full_like(fid, n), fid))
    keep = (fragments.fg_face >= face_start) & (fragments.fg_face < face_stop)
    return Fragments(
        face_idx=face_idx,
        bary=fragments.bary,
        depth=fragments.depth,
        fg_pixel=fragments.fg_pixel[keep],
        fg_batch=fragments.fg_batch[keep],
        fg_face=fragments.fg_face[keep] - face_start,
        fg_bary=fragments.fg_bary[keep],
        fg_depth=fragments.fg_depth[keep],
        origin=fragments.origin,
    )
