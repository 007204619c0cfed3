"""The covered pixels of one mesh (pixel, face, barycentrics, depth) without autograd, in NumPy.

The video overlay needs no gradient, and at one mesh per 640x480 frame `rasterize` costs about ten times
its pixel tests in fixed per-call work (a few hundred small tensor operations at 8-25 us each); the same
steps as NumPy operations cost 2-3 us each. Every step here repeats `rasterize_screen`'s arithmetic in
the same dtype and order (face coefficients, per-row spans of `_coverage_regions`, the coverage test, the
packed depth key, `corner_barycentrics`), so the pixels, faces and barycentrics are bitwise those of
`rasterize(..., crop=True)` (tested). Faces winning ties and the depth key rounding follow that module.
`covered_fragments` packs them (with the depth, also bitwise) into `Fragments` for code that needs no
gradient through the rasterization, e.g. the texture bake of the pipeline.
"""

from __future__ import annotations

import numpy as np
import torch

from handrecon.render.rasterize import (
    DEFAULT_ZNEAR,
    Camera,
    Fragments,
    corner_barycentrics,
    coverage_tolerance,
    is_perspective,
    to_screen,
)

_BACKGROUND = np.iinfo(np.int64).min
_BOX_PAIRS = 8  # faces with at most this many pixel centres in their box test them all (see `_covered`)


def covered_pixels(
    vertices: torch.Tensor, faces: torch.Tensor, camera: Camera, znear: float = DEFAULT_ZNEAR
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flat image index y * W + x (n,), face (n,) and barycentrics (n, 3) of the pixels one mesh (1, V, 3)
    covers, in increasing pixel order, as `rasterize(vertices, faces, camera, crop=True)` gives them."""
    pixel, face, bary, _ = _covered(vertices, faces, camera, znear)
    return pixel, face, bary


def covered_fragments(
    vertices: torch.Tensor,
    faces: torch.Tensor,
    camera: Camera,
    znear: float = DEFAULT_ZNEAR,
    barycentrics: bool = True,
) -> Fragments:
    """`rasterize(vertices, faces, camera, crop=True)` of one mesh (1, V, 3) without autograd: the same
    covered pixels, faces, barycentrics and depths, bit for bit, in buffers over the smallest rectangle
    holding the covered pixels (`Fragments.origin`; `rasterize` crops to the faces' candidate pixels,
    so its buffers may be larger, with background only around these).

    With `barycentrics=False` (for callers that read faces and depths only, e.g. the texture stage) they are
    not computed, and `bary` / `fg_bary` are NaN views that take no memory."""
    pixel, face, bary, depth = _covered(vertices, faces, camera, znear, barycentrics)
    W = camera.width
    if pixel.size:
        row, col = pixel // W, pixel % W
        left, top = int(col.min()), int(row.min())
        w, h = int(col.max()) - left + 1, int(row.max()) - top + 1
        local = (row - top) * w + (col - left)
    else:
        left = top = 0
        w = h = 1
        local = pixel
    device = vertices.device
    fg_pixel = torch.from_numpy(local).to(device)
    fg_face = torch.from_numpy(face).to(device)
    fg_depth = torch.from_numpy(depth).to(device)
    face_idx = np.full(h * w, -1, dtype=np.int64)
    face_idx[local] = face
    if bary is None:
        nan = torch.full((1, 1), float("nan"), dtype=fg_depth.dtype, device=device)
        fg_bary, bary_buf = nan.expand(face.size, 3), nan.expand(h * w, 3)
    else:
        fg_bary = torch.from_numpy(bary).to(device)
        bary_np = np.zeros((h * w, 3), dtype=bary.dtype)
        bary_np[local] = bary
        bary_buf = torch.from_numpy(bary_np).to(device)
    depth_buf = np.zeros(h * w, dtype=depth.dtype)
    depth_buf[local] = depth
    return Fragments(
        face_idx=torch.from_numpy(face_idx).to(device).view(1, h, w),
        bary=bary_buf.view(1, h, w, 3),
        depth=torch.from_numpy(depth_buf).to(device).view(1, h, w),
        fg_pixel=fg_pixel,
        fg_batch=torch.zeros_like(fg_pixel),
        fg_face=fg_face,
        fg_bary=fg_bary,
        fg_depth=fg_depth,
        origin=(left, top),
    )


def _covered(
    vertices: torch.Tensor, faces: torch.Tensor, camera: Camera, znear: float, barycentrics: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray]:
    """Image pixel (n,), face (n,), barycentrics (n, 3) (None unless `barycentrics`) and depth (n,) of the
    pixels one mesh covers."""
    with torch.no_grad():
        xy_t, z_t = to_screen(vertices, camera)
    if xy_t.shape[0] != 1:
        raise ValueError(f"covered_pixels draws one mesh: expected (1, V, 3), got {tuple(vertices.shape)}")
    xy, z = xy_t[0].cpu().numpy(), z_t[0].cpu().numpy()
    f = faces.cpu().numpy().astype(np.int64, copy=False)
    if f.ndim != 2 or f.shape[1] != 3:
        raise ValueError(f"faces must be (F, 3), got {tuple(f.shape)}")
    if f.size and (f.min() < 0 or f.max() >= z.shape[0]):
        raise ValueError(f"face indices must lie in [0, {z.shape[0]}), got [{f.min()}, {f.max()}]")
    H, W = camera.height, camera.width
    dtype = xy.dtype.type
    perspective = is_perspective(camera)
    tri = xy.take(f, axis=0)  # (F, 3, 2); `take` gathers rows several times faster than `xy[f]`
    tz = z.take(f)  # (F, 3)
    if perspective:
        near = tz > dtype(znear)
        keep = near[:, 0] & near[:, 1] & near[:, 2]
        key = dtype(1.0) / np.maximum(tz, dtype(znear))
    else:
        keep = np.isfinite(tz[:, 0] + tz[:, 1] + tz[:, 2])
        key = -tz
    # `_face_coefficients`
    p0 = tri[:, 0]
    e1 = tri[:, 1] - p0
    e2 = tri[:, 2] - p0
    with np.errstate(all="ignore"):
        area2 = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
        inv = dtype(1.0) / area2
        coef = np.stack(
            [p0[:, 0], p0[:, 1], e2[:, 1] * inv, -e2[:, 0] * inv, -e1[:, 1] * inv, e1[:, 0] * inv,
             key[:, 0], key[:, 1] - key[:, 0], key[:, 2] - key[:, 0]]
        )  # fmt: skip
    keep &= (area2 != 0) & np.isfinite(coef.sum(0, dtype=np.float64))  # inf - inf is NaN: still not finite
    # `face_pixel_ranges`: inclusive pixel ranges of the centres in each face's box.
    lo = np.minimum(np.minimum(tri[:, 0], tri[:, 1]), tri[:, 2])
    hi = np.maximum(np.maximum(tri[:, 0], tri[:, 1]), tri[:, 2])
    keep &= np.isfinite(lo[:, 0] + lo[:, 1] + hi[:, 0] + hi[:, 1])
    size = np.array([W, H], dtype=lo.dtype)
    lo, hi = np.where(keep[:, None], lo, 0), np.where(keep[:, None], hi, -1)
    first = np.clip(np.ceil(lo - dtype(0.5)), 0, size).astype(np.int64)
    last = np.clip(np.floor(hi - dtype(0.5)), -1, size - 1).astype(np.int64)
    x0, y0, x1, y1 = first[:, 0], first[:, 1], last[:, 0], last[:, 1]
    ny = np.where(keep & (x1 >= x0), y1 - y0 + 1, 0).clip(0)
    tol = coverage_tolerance(xy_t.dtype)
    # Small boxes: every pixel of the box (cheaper than spans per row for the few pixels of a small face);
    # larger ones: the pixels between the face's loosened edges on each row. Either is a superset of the
    # pixels the coverage test accepts, and the test alone decides.
    nx = np.where(ny > 0, x1 - x0 + 1, 0)
    small = nx * ny <= _BOX_PAIRS
    boxes = _box_pairs(x0, y0, nx, np.where(small, ny, 0))
    spans = _candidate_pairs(coef, x0, x1, y0, np.where(small, 0, ny), tol, xy.dtype)
    face, px, py = (np.concatenate(t) for t in zip(boxes, spans, strict=True))
    # `_pair_coverage` and the packed z-buffer of `rasterize_screen`.
    c = [row.take(face) for row in coef[:6]]  # row by row: several times faster than one 2-D gather
    qx = px.astype(xy.dtype) + dtype(0.5) - c[0]
    qy = py.astype(xy.dtype) + dtype(0.5) - c[1]
    w1 = c[2] * qx + c[3] * qy
    w2 = c[4] * qx + c[5] * qy
    inside = (w1 >= dtype(-tol)) & (w2 >= dtype(-tol)) & (w1 + w2 <= dtype(1 + tol))
    inside = np.flatnonzero(inside)  # then `take`: several times faster than boolean indexing, same order
    face, w1, w2 = face.take(inside), w1.take(inside), w2.take(inside)  # the depth key of covering pairs only
    k = coef[6].take(face) + coef[7].take(face) * w1 + coef[8].take(face) * w2
    k = k.astype(np.float32).view(np.int32)
    packed = (np.where(k < 0, k ^ 0x7FFFFFFF, k).astype(np.int64) << 32) | face
    px, py = px.take(inside), py.take(inside)
    if px.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros((0, 3), dtype=xy.dtype) if barycentrics else None, np.zeros(0, dtype=xy.dtype)
    # z-buffer over the rectangle of the covering pairs only (row-major, so its order is the image's).
    left, top = int(px.min()), int(py.min())
    bw = int(px.max()) - left + 1
    best = np.full((int(py.max()) - top + 1) * bw, _BACKGROUND, dtype=np.int64)
    np.maximum.at(best, (py - top) * bw + (px - left), packed)
    local = np.flatnonzero(best != _BACKGROUND)
    face = best[local] & 0xFFFFFFFF
    line = local // bw
    pixel = (line + top) * W + (local - line * bw + left)
    return pixel, face, *_barycentrics(xy, z, f.take(face, axis=0), pixel, W, perspective, barycentrics)


def _box_pairs(
    x0: np.ndarray, y0: np.ndarray, nx: np.ndarray, ny: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(face, column, row) of every pixel in each face's box of nx x ny pixels from (x0, y0), row-major."""
    count = nx * ny
    face = np.repeat(np.arange(count.size), count)
    k = np.arange(face.size) - np.repeat(np.cumsum(count) - count, count)  # index within the box
    w = nx[face]
    row = k // w
    return face, x0[face] + (k - row * w), y0[face] + row


def _candidate_pairs(
    coef: np.ndarray, x0: np.ndarray, x1: np.ndarray, y0: np.ndarray, ny: np.ndarray, tol: float, dtype: np.dtype
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(face, column, row) of the pixels on each box row between the face's loosened edges: the arithmetic of
    `rasterize._coverage_regions` and `candidates._row_spans` (a superset of the pairs the test accepts)."""
    R = int(ny.sum())
    row_face = np.repeat(np.arange(ny.size), ny)
    row_first = np.cumsum(ny) - ny
    row_y = y0[row_face] + (np.arange(R) - row_first[row_face])
    c = coef.astype(np.float64)
    bx0, bx1, by0, by1 = (t.astype(np.float64) for t in (x0, x1, y0, y0 + ny - 1))
    with np.errstate(all="ignore"):
        qx = np.maximum(np.abs(bx0 + 0.5 - c[0]), np.abs(bx1 + 0.5 - c[0]))
        qy = np.maximum(np.abs(by0 + 0.5 - c[1]), np.abs(by1 + 0.5 - c[1]))
        ulps = 16 * float(np.finfo(dtype).eps)
        slack1 = ulps * (np.abs(c[2]) * qx + np.abs(c[3]) * qy + 1)
        slack2 = ulps * (np.abs(c[4]) * qx + np.abs(c[5]) * qy + 1)
        a = np.stack([c[2], c[4], -(c[2] + c[4])])
        b = np.stack([c[3], c[5], -(c[3] + c[5])])
        cc = np.stack([tol + slack1, tol + slack2, 1 + tol + 2 * (slack1 + slack2)])
        bad = ~(np.isfinite(a) & np.isfinite(b) & np.isfinite(cc)).all(0)  # box rows, unrestricted
        a, b = (np.stack([r.take(row_face) for r in np.where(bad, 0.0, t)]) for t in (a, b))
        cc = np.stack([r.take(row_face) for r in np.where(bad, 1.0, cc)])
        ox, oy = (np.nan_to_num(t, nan=0.0, posinf=0.0, neginf=0.0).take(row_face) for t in (c[0], c[1]))
        s = b * ((row_y.astype(np.float64) + 0.5) - oy) + cc
        bound = -s / a
        lo3 = np.where(a > 0, bound, -np.inf)
        hi3 = np.where(a < 0, bound, np.inf)
        lo = np.maximum(np.maximum(lo3[0], lo3[1]), lo3[2])  # elementwise: no slow short-axis reduction
        hi = np.minimum(np.minimum(hi3[0], hi3[1]), hi3[2])
        empty = (a == 0) & ~(s >= 0)
        hi[empty[0] | empty[1] | empty[2]] = -np.inf
        pad = 1e-9 * (1.0 + np.abs(ox))
        rx0, rx1 = bx0[row_face], bx1[row_face]
        first = np.minimum(np.maximum(np.ceil(lo + (ox - 0.5) - pad), rx0), rx1 + 1)  # torch.clamp's order
        last = np.minimum(np.maximum(np.floor(hi + (ox - 0.5) + pad), rx0 - 1), rx1)
    first = first.astype(np.int64)
    length = np.maximum(last.astype(np.int64) - first + 1, 0)
    n = int(length.sum())
    seg = np.repeat(np.arange(R), length)
    shift = first - (np.cumsum(length) - length)
    return row_face[seg], np.arange(n) + shift[seg], row_y[seg]


def _barycentrics(
    xy: np.ndarray,
    z: np.ndarray,
    corners: np.ndarray,
    pixel: np.ndarray,
    width: int,
    perspective: bool,
    weights: bool = True,
) -> tuple[np.ndarray | None, np.ndarray]:
    """`rasterize.corner_barycentrics` at the centres of the pixels, in NumPy: barycentrics (n, 3) (None
    without `weights`) and depth (n,)."""
    xs = [xy[corners[:, k], 0] for k in range(3)]
    ys = [xy[corners[:, k], 1] for k in range(3)]
    zs = [z[corners[:, k]] for k in range(3)]
    half = xy.dtype.type(0.5)
    line = pixel // width
    px = (pixel - line * width).astype(xy.dtype) + half
    py = line.astype(xy.dtype) + half
    return corner_barycentrics(xs, ys, zs, px, py, perspective, stack=np.stack, weights=weights)
