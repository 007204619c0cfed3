"""Hand proposals: where a hand may be, from several sources, before the landmark model verifies them.

Sources: the palm detector on the whole image and on overlapping tiles (small hands: the detector sees the
image at 192x192, so a hand under about a tenth of the image side is too small for it), body pose (a region
at each wrist of every person) and, in videos, the previous frame's hands. Proposals are merged by a
non-maximum suppression on their boxes that never merges the two wrists of one body: interlocked or
touching hands overlap as much as two proposals of one hand do.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from handrecon.detect.crops import RotatedRect, angle_up
from handrecon.detect.ssd import SSDDetection, box_iou

SOURCES = (
    "palm",
    "palm-weak",
    "palm-zoom",
    "palm-tile",
    "body",
    "forearm",
    "masked-wrist",
    "neighbour",
    "whole-image",
    "scan",
    "track",
)


@dataclass
class Proposal:
    """A region that may hold a hand. `side`: the person's side when it comes from a body's wrist."""

    rect: RotatedRect
    source: str  # one of SOURCES
    score: float  # the source's own confidence (palm score, wrist visibility, previous presence)
    side: str | None = None
    person: int | None = None


def palm_rect(det: SSDDetection) -> RotatedRect:
    """MediaPipe's hand crop from a palm detection: square on the palm box, turned so that wrist -> middle
    finger base points up, moved up by half the palm and scaled by 2.6."""
    x0, y0, x1, y1 = det.box
    side = float(max(x1 - x0, y1 - y0))
    angle = angle_up(det.keypoints[0], det.keypoints[2])
    return RotatedRect((x0 + x1) / 2, (y0 + y1) / 2, side, side, angle).scaled(2.6, 0.5)


def tile_regions(width: int, height: int, tile: float, overlap: float = 0.25) -> list[RotatedRect]:
    """Square tiles of side `tile` covering the image, neighbours overlapping by `overlap` of a tile
    (so a hand smaller than that overlap lies whole inside at least one tile). Edge tiles are aligned
    with the image border; a side shorter than the tile gets one tile centred on it."""
    step = tile * (1.0 - overlap)

    def starts(n: int) -> list[float]:
        if n <= tile:
            return [(n - tile) / 2]
        k = math.ceil((n - tile) / step) + 1
        return [i * (n - tile) / (k - 1) for i in range(k)]

    return [RotatedRect(x + tile / 2, y + tile / 2, tile, tile) for y in starts(height) for x in starts(width)]


def tile_pyramid(width: int, height: int, detector_input: int = 192, levels: int = 2) -> list[RotatedRect]:
    """Tiles at halving sizes from half the longer image side, at most `levels` sizes, none smaller than the
    detector's input (a tile is never enlarged): images near the detector's own resolution get none."""
    out: list[RotatedRect] = []
    t = max(width, height) / 2
    for _ in range(levels):
        if t < detector_input:
            break
        out += tile_regions(width, height, t)
        t /= 2
    return out


def zoomed_out(width: int, height: int, factor: float = 1.5) -> RotatedRect:
    """The whole image with a black margin: the palm detector needs context around a palm that fills
    the frame (a close-up)."""
    return RotatedRect.around(0, 0, width, height).scaled(factor)


def zoom_pyramid(width: int, height: int, factors: tuple[float, ...]) -> list[RotatedRect]:
    """The whole image zoomed out by each factor (black margins): a scale pyramid for the palm detector, whose
    score of a large hand cut by the frame changes with the margin around it."""
    return [zoomed_out(width, height, f) for f in factors]


def scan_windows(width: int, height: int, fractions: tuple[float, ...] = (0.5, 0.75)) -> list[RotatedRect]:
    """Upright square windows of the given fractions of the shorter image side, half a window apart: the
    last resort for large hands no detector proposes (gloved, or holding an object that hides the palm)."""
    out: list[RotatedRect] = []
    for f in fractions:
        out += tile_regions(width, height, f * min(width, height), overlap=0.5)
    return out


def neighbour_rects(rect: RotatedRect, offset: float = 0.5) -> list[RotatedRect]:
    """Upright crops of the same size left and right of a hand's crop: where the second of two touching or
    interlocked hands lies (its own re-crop then settles on it, or back on the first hand)."""
    s = rect.size
    return [RotatedRect(rect.cx + dx * offset * s, rect.cy, s, s) for dx in (-1, 1)]


def proposal_nms(props: list[Proposal], iou_threshold: float = 0.5) -> list[Proposal]:
    """Greedy NMS on the proposals' boxes (highest score first). Two body proposals of different wrists
    never suppress each other (two hands together); a body proposal is kept over a palm one it overlaps
    (it carries the body's side)."""
    order = sorted(range(len(props)), key=lambda k: (props[k].source != "body", -props[k].score))
    kept: list[Proposal] = []
    for k in order:
        p = props[k]
        box = p.rect.bbox()
        dup = False
        for q in kept:
            if p.source == "body" and q.source == "body" and (p.person, p.side) != (q.person, q.side):
                continue
            if box_iou(np.array(box), np.array(q.rect.bbox())) >= iou_threshold and _similar_size(p.rect, q.rect):
                dup = True
                break
        if not dup:
            kept.append(p)
    return kept


def _similar_size(a: RotatedRect, b: RotatedRect, ratio: float = 1.6) -> bool:
    return max(a.size, b.size) <= ratio * min(a.size, b.size)
