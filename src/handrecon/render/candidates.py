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
    lo = tri_xy.amin(-2) - margin
    hi = tri_xy.amax(-2) + margin
    finite = torch.isfinite(lo).all(-1) & torch.isfinite(hi).all(-1)
    # Clamp in floating point before converting so that huge or infinite coordinates stay representable.
    x0 = torch.ceil(lo[..., 0] - 0.5).clamp(0, width).long()
    x1 = torch.floor(hi[..., 0] - 0.5).clamp(-1, width - 1).long()
    y0 = torch.ceil(lo[..., 1] - 0.5).clamp(0, height).long()
    y1 = torch.floor(hi[..., 1] - 0.5).clamp(-1, height - 1).long()
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
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        c = counts[lo:hi]
        n = int(c.sum())
        if n == 0:
            continue
        face = torch.repeat_interleave(torch.arange(lo, hi, device=c.device), c, output_size=n)
        start = torch.cumsum(c, 0) - c
        local = torch.arange(n, device=c.device) - start[face - lo]
        w = nx[face]
        row = torch.div(local, w, rounding_mode="floor")
        yield PixelPairs(face=face, px=x0[face] + (local - row * w), py=y0[face] + row)
