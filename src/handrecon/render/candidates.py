"""Candidate (face, pixel) pairs: every pixel whose centre lies in a face's (optionally enlarged) bounding box.

Both rasterizers test coverage only on these pairs, so the work is proportional to the screen area the
faces cover, not to faces x pixels. Pixel (x, y) covers [x, x + 1) x [y, y + 1); its centre is (x + 0.5, y + 0.5).
Pairs are generated face-range by face-range so that a pathological mesh (huge faces, many layers) is
processed in bounded memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch


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
) -> Iterator[PixelPairs]:
    """Enumerate (face, pixel) pairs of the flattened per-face ranges, at most about `max_pairs` per chunk.

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
        yield _expand_pairs(lo, hi, rows[lo:hi], n, x0, y0, nx)


def _expand_pairs(
    lo: int, hi: int, rows: torch.Tensor, n: int, x0: torch.Tensor, y0: torch.Tensor, nx: torch.Tensor
) -> PixelPairs:
    """The n pairs of faces [lo, hi): faces in order, each box row by row, left to right.

    Expanded in two steps, faces to box rows and rows to pixels, with gathers and no integer division
    (which is slow on CPU).
    """
    device = rows.device
    R = int(rows.sum())
    row_face = torch.repeat_interleave(torch.arange(lo, hi, device=device), rows, output_size=R)
    row_first = torch.cumsum(rows, 0) - rows  # index of each face's first row
    row_y = y0.index_select(0, row_face) + (torch.arange(R, device=device) - row_first.index_select(0, row_face - lo))
    row_len = nx.index_select(0, row_face)
    # Pixel p of a row lies at column x0 + p - (index of the row's first pixel).
    row_shift = x0.index_select(0, row_face) - (torch.cumsum(row_len, 0) - row_len)
    seg = torch.repeat_interleave(torch.arange(R, device=device), row_len, output_size=n)
    return PixelPairs(
        face=row_face.index_select(0, seg),
        px=torch.arange(n, device=device) + row_shift.index_select(0, seg),
        py=row_y.index_select(0, seg),
    )
