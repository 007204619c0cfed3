"""Candidate (face, pixel) pairs: the pixels whose centres lie in a face's (optionally enlarged) bounding box,
and, given a `ConvexRegions` per face, only those between the region's edges on each row.

Both rasterizers test coverage only on these pairs, so the work is proportional to the screen area the
faces cover, not to faces x pixels. A triangle fills about half of its bounding box, so per-row spans halve
the pairs to test. The rasterizers give regions that contain every pixel their own coverage test can accept
(rounding included), so the spans change which pairs are tested, never which pass; pairs keep the order of
the box enumeration (faces in order, rows top down, left to right). Pixel (x, y) covers [x, x + 1) x
[y, y + 1); its centre is (x + 0.5, y + 0.5). Pairs are generated face-range by face-range so that a
pathological mesh (huge faces, many layers) is processed in bounded memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch


@dataclass
class ConvexRegions:
    """Per flattened face, the intersection of three half-planes a_k (X - ox) + b_k (Y - oy) + c_k >= 0 in
    pixel coordinates (float64; relative to a point of the face so that large coordinates lose no precision).
    A half-plane with a = b = 0 and c >= 0 puts no limit."""

    ox: torch.Tensor  # (N,)
    oy: torch.Tensor  # (N,)
    a: torch.Tensor  # (3, N)
    b: torch.Tensor  # (3, N)
    c: torch.Tensor  # (3, N)


@dataclass
class PixelPairs:
    """A chunk of candidate pairs; `face` indexes the flattened (B * F) face table."""

    face: torch.Tensor  # (P,) long, b * F + f
    px: torch.Tensor  # (P,) long column
    py: torch.Tensor  # (P,) long row


def face_pixel_ranges(
    tri_xy: torch.Tensor, height: int, width: int, margin: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-face inclusive pixel index ranges (x0, x1, y0, y1) of centres inside the bbox grown by `margin`.

    tri_xy: (..., 3, 2) screen corners. Empty ranges have x1 < x0 (or y1 < y0). Non-finite corners give
    empty ranges.
    """
    c0, c1, c2 = tri_xy.unbind(-2)  # elementwise min / max of the corners: no slow short-axis reduction
    lo = torch.minimum(torch.minimum(c0, c1), c2)
    hi = torch.maximum(torch.maximum(c0, c1), c2)
    if margin:
        lo, hi = lo - margin, hi + margin
    finite = torch.isfinite(lo).all(-1) & torch.isfinite(hi).all(-1)
    # Clamp in floating point before converting so that huge or infinite coordinates stay representable.
    size = torch.tensor([width, height], dtype=lo.dtype, device=lo.device)
    first = torch.clamp(torch.ceil(lo - 0.5), min=torch.zeros_like(size), max=size).long()
    last = torch.clamp(torch.floor(hi - 0.5), min=-torch.ones_like(size), max=size - 1).long()
    x0, y0 = first.unbind(-1)
    x1, y1 = last.unbind(-1)
    x1 = torch.where(finite, x1, x0 - 1)
    return x0, x1, y0, y1


def iter_pixel_pairs(
    x0: torch.Tensor,
    x1: torch.Tensor,
    y0: torch.Tensor,
    y1: torch.Tensor,
    keep: torch.Tensor,
    max_pairs: int = 1 << 23,
    regions: ConvexRegions | None = None,
) -> Iterator[PixelPairs]:
    """Enumerate (face, pixel) pairs of the flattened per-face ranges, at most about `max_pairs` per chunk;
    with `regions`, only the pixels of each box row whose centres lie in the face's region.

    A single face whose box exceeds `max_pairs` still forms one chunk of its own.
    """
    x0, x1, y0, y1, keep = (t.reshape(-1) for t in (x0, x1, y0, y1, keep))
    nx = (x1 - x0 + 1).clamp_min(0)
    ny = (y1 - y0 + 1).clamp_min(0)
    counts = torch.where(keep, nx * ny, torch.zeros_like(nx))
    ends = torch.cumsum(counts, 0)
    total = int(ends[-1]) if ends.numel() else 0
    if total == 0:
        return
    # Face-range boundaries so that each chunk holds roughly max_pairs pairs.
    if total <= max_pairs:
        bounds = [0, counts.numel()]
    else:
        targets = torch.arange(max_pairs, total, max_pairs, device=ends.device)
        cuts = torch.searchsorted(ends, targets, right=True).tolist()
        bounds = sorted({0, counts.numel(), *cuts})
    rows = torch.where(counts > 0, ny, torch.zeros_like(ny))
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        n = int(counts[lo:hi].sum())
        if n == 0:
            continue
        pairs = _expand_pairs(lo, hi, rows[lo:hi], x0, x1, y0, nx, regions)
        if pairs is not None:
            yield pairs


def _expand_pairs(
    lo: int,
    hi: int,
    rows: torch.Tensor,
    x0: torch.Tensor,
    x1: torch.Tensor,
    y0: torch.Tensor,
    nx: torch.Tensor,
    regions: ConvexRegions | None,
) -> PixelPairs | None:
    """The pairs of faces [lo, hi): faces in order, each box row by row, left to right (None if there are none).

    Expanded in two steps, faces to box rows and rows to pixels, with gathers and no integer division
    (which is slow on CPU).
    """
    device = rows.device
    R = int(rows.sum())
    row_face = torch.repeat_interleave(torch.arange(lo, hi, device=device), rows, output_size=R)
    row_first = torch.cumsum(rows, 0) - rows  # index of each face's first row
    row_y = y0.index_select(0, row_face) + (torch.arange(R, device=device) - row_first.index_select(0, row_face - lo))
    if regions is None:
        row_x0 = x0.index_select(0, row_face)
        row_len = nx.index_select(0, row_face)
    else:
        box_x0, box_x1 = x0.index_select(0, row_face), x1.index_select(0, row_face)
        row_x0, row_len = _row_spans(regions, row_face, row_y, box_x0, box_x1)
    n = int(row_len.sum())
    if n == 0:
        return None
    # Pixel p of a row lies at column x0 + p - (index of the row's first pixel).
    row_shift = row_x0 - (torch.cumsum(row_len, 0) - row_len)
    seg = torch.repeat_interleave(torch.arange(R, device=device), row_len, output_size=n)
    return PixelPairs(
        face=row_face.index_select(0, seg),
        px=torch.arange(n, device=device) + row_shift.index_select(0, seg),
        py=row_y.index_select(0, seg),
    )


def _row_spans(
    regions: ConvexRegions, face: torch.Tensor, row_y: torch.Tensor, box_x0: torch.Tensor, box_x1: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """First column and pixel count (both (R,) long) of each box row's pixel centres inside the face's region.

    Solved in float64 per row: each half-plane bounds X from one side (or, with a = 0, keeps or empties the
    row); the span is clipped to the box.
    """
    qy = (row_y.to(torch.float64) + 0.5) - regions.oy.index_select(0, face)
    a, b, c = (t.index_select(1, face) for t in (regions.a, regions.b, regions.c))  # (3, R) each
    s = b * qy + c  # half-plane k holds where a qx + s >= 0
    bound = -s / a
    lo = torch.where(a > 0, bound, -torch.inf).amax(0)
    hi = torch.where(a < 0, bound, torch.inf).amin(0)
    hi = hi.masked_fill(((a == 0) & ~(s >= 0)).any(0), -torch.inf)  # a row no column satisfies (NaN s too)
    ox = regions.ox.index_select(0, face)
    # Column p has centre p + 0.5. The pad covers the rounding of the sums far from the image origin
    # (a few ulps of |ox|), which the regions' own slack, relative to the face, does not.
    pad = 1e-9 * (1.0 + ox.abs())
    bx0, bx1 = box_x0.to(torch.float64), box_x1.to(torch.float64)
    first = torch.clamp(torch.ceil(lo + (ox - 0.5) - pad), min=bx0, max=bx1 + 1)  # finite before conversion
    last = torch.clamp(torch.floor(hi + (ox - 0.5) + pad), min=bx0 - 1, max=bx1)
    return first.long(), (last - first + 1).clamp_min(0).long()
