"""Crops and tiles map back to image coordinates exactly; proposal NMS keeps two wrists of a body apart."""

import math

import numpy as np
import pytest

from handrecon.detect.crops import RotatedRect, angle_up, crop
from handrecon.detect.proposals import Proposal, neighbour_rects, proposal_nms, tile_pyramid, tile_regions


def test_crop_round_trip_and_pixels_land_where_mapped():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)
    r = RotatedRect(70.0, 50.0, 40.0, 40.0, math.radians(30))
    pts = rng.uniform(0, 64, (10, 2))
    np.testing.assert_allclose(r.to_crop(r.to_image(pts, 64, 64), 64, 64), pts, atol=1e-9)
    # a crop pixel centre samples the image at its mapped position (nearest pixel when that is a centre)
    axis = RotatedRect(80.0, 60.0, 40.0, 40.0)  # 40 px -> 40 px: crop pixel (i + 0.5) is image pixel
    out = crop(img, axis, 40)
    np.testing.assert_array_equal(out, img[40:80, 60:100])


def test_to_crop_inverts_the_crop_map_of_a_turned_oblong_rect():
    rng = np.random.default_rng(1)
    r = RotatedRect(33.0, -12.0, 50.0, 80.0, 2.4)
    pts = rng.uniform(-100, 100, (7, 2))
    M = r.crop_to_image(30, 20)
    expected = (pts - M[:, 2]) @ np.linalg.inv(M[:, :2]).T
    np.testing.assert_allclose(r.to_crop(pts, 30, 20), expected, atol=1e-9)
    np.testing.assert_allclose(r.to_image(r.to_crop(pts, 30, 20), 30, 20), pts, atol=1e-9)


def test_angle_up_points_the_direction_up_in_the_crop():
    wrist, middle = np.array([10.0, 10.0]), np.array([30.0, 10.0])  # fingers pointing right
    r = RotatedRect(20, 10, 20, 20, angle_up(wrist, middle))
    c = r.to_crop(np.stack([wrist, middle]), 100, 100)
    assert c[1, 1] < c[0, 1] - 40 and abs(c[1, 0] - c[0, 0]) < 1e-9  # straight up


def test_tiles_cover_the_image_and_map_back_exactly():
    W, H = 1000, 700
    tiles = tile_regions(W, H, 300)
    boxes = np.array([t.bbox() for t in tiles])
    assert boxes[:, 0].min() == 0 and boxes[:, 1].min() == 0
    assert boxes[:, 2].max() == pytest.approx(W) and boxes[:, 3].max() == pytest.approx(H)
    # every point of the image lies in a tile with at least the overlap margin around it (or at a border)
    rng = np.random.default_rng(1)
    for p in rng.uniform([0, 0], [W, H], (200, 2)):
        assert any(b[0] <= p[0] <= b[2] and b[1] <= p[1] <= b[3] for b in boxes)
    # a detector output in tile-input pixels maps to the image point it shows
    t = tiles[4]
    x0, y0, _, _ = t.bbox()
    np.testing.assert_allclose(t.to_image(np.array([[96.0, 48.0]]), 192, 192)[0], [x0 + 150, y0 + 75])


def test_tile_pyramid_none_for_small_images_and_halving_sizes():
    assert tile_pyramid(224, 224) == []
    sizes = sorted({round(t.size) for t in tile_pyramid(1920, 1080)}, reverse=True)
    assert sizes == [960, 480]


def _prop(x, y, s, source="palm", score=0.9, side=None, person=None):
    return Proposal(RotatedRect(x, y, s, s), source, score, side, person)


def test_nms_merges_one_hand_keeps_two_wrists_of_a_body():
    a, b = _prop(100, 100, 50, score=0.9), _prop(103, 101, 52, score=0.8)
    far = _prop(300, 100, 50)
    kept = proposal_nms([a, b, far])
    assert len(kept) == 2 and a in kept and far in kept
    left = _prop(100, 100, 60, "body", 0.9, "left", 0)
    right = _prop(105, 102, 60, "body", 0.9, "right", 0)
    palm = _prop(102, 100, 58, "palm", 0.99)
    kept = proposal_nms([palm, left, right])
    assert left in kept and right in kept and palm not in kept  # the body's proposals carry the side


def test_nms_keeps_overlapping_boxes_of_different_sizes():
    big, small = _prop(100, 100, 200), _prop(100, 100, 60)
    assert len(proposal_nms([big, small])) == 2


def test_neighbour_rects_beside_the_hand():
    r = RotatedRect(100, 100, 40, 40, 0.3)
    centres = sorted((n.cx, n.cy) for n in neighbour_rects(r))
    assert centres == [(80, 100), (120, 100)]
