"""Intrinsics from flags, EXIF and the default, and refusal of impossible cameras."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import TiffImagePlugin

from handrecon.geometry.camera import fov_from_intrinsics
from handrecon.io import (
    DEFAULT_FOV_DEG,
    InputError,
    SettingError,
    camera_from_exif,
    check_camera_settings,
    check_intrinsics,
    exif_intrinsics,
    load_image,
    resolve_intrinsics,
)

from ._files import encode, exif_with, write


def _focal(K: torch.Tensor) -> tuple[float, float]:
    return float(K[0, 0]), float(K[1, 1])


def test_35mm_equivalent_on_a_3_2_frame_matches_the_film_frame():
    # A 3:2 image is the 36 x 24 mm frame scaled: a 36 mm equivalent lens has the image width as focal length.
    K = camera_from_exif({"FocalLengthIn35mmFilm": 36.0}, 3000, 2000)
    assert _focal(K) == pytest.approx((3000.0, 3000.0))
    K = camera_from_exif({"FocalLengthIn35mmFilm": 50.0}, 2000, 3000)  # portrait: same lens, same focal
    assert _focal(K) == pytest.approx((50 / 36 * 3000,) * 2)


def test_35mm_equivalent_uses_the_diagonal_on_4_3_frames():
    # iPhone-like main camera: 4.2 mm lens with 1.4 um pixels = 3000 px; EXIF reports a 26 mm equivalent.
    w, h = 4032, 3024
    fx, fy = _focal(camera_from_exif({"FocalLengthIn35mmFilm": 26.0}, w, h))
    assert fx == fy
    diag_fov = 2 * math.atan(math.hypot(w, h) / (2 * fx))
    assert diag_fov == pytest.approx(2 * math.atan(math.hypot(36, 24) / (2 * 26)))  # same diagonal view as film
    assert abs(fx - 3000) / 3000 < 0.02


def test_focal_plane_resolution():
    full = {"ExifImageWidth": 4032, "ExifImageHeight": 3024}
    tags = {"FocalLength": 4.2, "FocalPlaneXResolution": 25.4 / 0.0014, "FocalPlaneResolutionUnit": 2} | full
    assert _focal(camera_from_exif(tags, 4032, 3024)) == pytest.approx((3000.0, 3000.0))
    tags = {"FocalLength": 4.2, "FocalPlaneXResolution": 1 / 0.0014, "FocalPlaneResolutionUnit": 4} | full
    assert _focal(camera_from_exif(tags, 4032, 3024)) == pytest.approx((3000.0, 3000.0))
    # the image was halved after capture: the sensor's resolution refers to the 4032 px original
    assert _focal(camera_from_exif(tags, 2016, 1512)) == pytest.approx((1500.0, 1500.0))
    # the unit defaults to inches, as EXIF specifies
    tags = {"FocalLength": 4.2, "FocalPlaneXResolution": 25.4 / 0.0014} | full
    assert _focal(camera_from_exif(tags, 4032, 3024)) == pytest.approx((3000.0, 3000.0))


def test_focal_plane_resolution_of_a_resized_photo_without_pixel_dimensions_is_not_trusted():
    """devdata's photos_hamer/test1.jpg: 88 mm, 2413 px/cm on the sensor, no PixelXDimension, downsized to
    848 px after capture. Taken as is, fx came out 21,000 px and the hand 21 m away."""
    tags = {"FocalLength": 88.0, "FocalPlaneXResolution": 2413.33, "FocalPlaneYResolution": 2413.33,
            "FocalPlaneResolutionUnit": 3.0}  # fmt: skip
    K, why = exif_intrinsics(tags, 848, 565)
    assert K is None and "PixelXDimension" in why
    K, src = resolve_intrinsics(848, 565, exif=tags)
    assert src.startswith("default (") and "PixelXDimension" in src
    assert fov_from_intrinsics(K, 848, 565)[0] == pytest.approx(DEFAULT_FOV_DEG)
    # pixel dimensions of another aspect ratio: the image was cropped, the resolution says nothing
    K, why = exif_intrinsics(tags | {"ExifImageWidth": 6000, "ExifImageHeight": 6000}, 848, 565)
    assert K is None and "6000x6000" in why
    # with the true capture size the same tags are consistent and used
    K, why = exif_intrinsics(tags | {"ExifImageWidth": 6000, "ExifImageHeight": 3996}, 848, 565)
    assert why == "" and float(K[0, 0]) == pytest.approx(88 * 241.333 * 848 / 6000)


def test_the_hamer_photo_falls_back_to_the_default_saying_why(devdata_photos):
    from handrecon.io import load_image

    loaded = load_image(devdata_photos / "test1.jpg")
    K, src = resolve_intrinsics(loaded.width, loaded.height, exif=loaded.exif)
    assert src.startswith("default (") and float(K[0, 0]) < 2000


def test_35mm_equivalent_preferred_and_principal_point_centred():
    tags = {"FocalLengthIn35mmFilm": 36.0, "FocalLength": 4.2, "FocalPlaneXResolution": 1000.0}
    K = camera_from_exif(tags, 3000, 2000)
    assert _focal(K) == pytest.approx((3000.0, 3000.0))
    assert float(K[0, 2]) == 1500 and float(K[1, 2]) == 1000 and K.dtype == torch.float64


@pytest.mark.parametrize(
    "tags",
    [
        {},
        {"FocalLengthIn35mmFilm": 0},
        {"FocalLengthIn35mmFilm": float("nan")},
        {"FocalLengthIn35mmFilm": 0.01},  # a fov near 180 degrees: junk, not a lens
        {"FocalLength": 4.2},  # no sensor resolution: the focal length in mm alone says nothing
        {"FocalLength": 4.2, "FocalPlaneXResolution": 700.0, "FocalPlaneResolutionUnit": 1},  # no unit
        {"FocalLengthIn35mmFilm": 2000.0},  # a 1 degree view: more likely junk than a 2000 mm lens
    ],
)
def test_exif_that_does_not_say(tags):
    assert camera_from_exif(tags, 4032, 3024) is None


def test_exif_from_a_jpeg_file(tmp_path):
    img = np.zeros((300, 400, 3), np.uint8)
    exif = exif_with(FocalLengthIn35mmFilm=28, FocalLength=TiffImagePlugin.IFDRational(47, 10))
    loaded = load_image(write(tmp_path / "e.jpg", encode(img, "JPEG", exif=exif)))
    assert loaded.exif["FocalLengthIn35mmFilm"] == 28 and loaded.exif["FocalLength"] == pytest.approx(4.7)
    K, source = resolve_intrinsics(loaded.width, loaded.height, exif=loaded.exif)
    assert source == "exif"
    assert float(K[0, 0]) == pytest.approx(28 * 500 / math.hypot(36, 24))
    assert loaded.exif_focal_px == pytest.approx((float(K[0, 0]),) * 2)


def test_precedence_flags_then_exif_then_default():
    exif = {"FocalLengthIn35mmFilm": 36.0}
    K, src = resolve_intrinsics(600, 400, fx=900.0, exif=exif)
    assert src == "flags" and _focal(K) == (900.0, 900.0) and (float(K[0, 2]), float(K[1, 2])) == (300.0, 200.0)
    K, src = resolve_intrinsics(600, 400, fy=700.0)
    assert src == "flags" and _focal(K) == (700.0, 700.0)
    K, src = resolve_intrinsics(600, 400, fx=900.0, fy=950.0, cx=310.0, cy=190.0)
    assert src == "flags" and torch.equal(K, torch.tensor([[900.0, 0, 310], [0, 950, 190], [0, 0, 1]], dtype=K.dtype))
    K, src = resolve_intrinsics(600, 400, fov=90.0, exif=exif)
    assert src == "fov" and _focal(K) == pytest.approx((300.0, 300.0))  # half the long side / tan(45 deg)
    K, src = resolve_intrinsics(600, 400, exif=exif)
    assert src == "exif" and _focal(K) == pytest.approx((600.0, 600.0))
    K, src = resolve_intrinsics(600, 400, exif={"FocalLength": 4.0})
    assert src.startswith("default (") and "sensor" in src
    assert fov_from_intrinsics(K, 600, 400)[0] == pytest.approx(DEFAULT_FOV_DEG)


def test_default_fov_is_along_the_longer_side():
    K, _ = resolve_intrinsics(400, 600)  # portrait: the long side is vertical
    assert fov_from_intrinsics(K, 400, 600)[1] == pytest.approx(DEFAULT_FOV_DEG)
    assert 50.0 <= DEFAULT_FOV_DEG <= 70.0  # the range of phone and webcam photos argued in the docstring


def test_principal_point_flags_keep_the_focal_source():
    K, src = resolve_intrinsics(600, 400, cx=320.0, exif={"FocalLengthIn35mmFilm": 36.0})
    assert src == "exif+flags" and float(K[0, 0]) == pytest.approx(600.0)
    assert (float(K[0, 2]), float(K[1, 2])) == (320.0, 200.0)
    _, src = resolve_intrinsics(600, 400, cy=0.0)
    assert src == "default+flags (no EXIF focal length)"


@pytest.mark.parametrize(
    "kwargs, reason",
    [
        ({"fx": 0.0}, "fx"),
        ({"fx": -500.0}, "fx"),
        ({"fy": float("nan")}, "fy"),
        ({"fx": float("inf")}, "fx"),
        ({"fov": 0.0}, "field of view"),
        ({"fov": 180.0}, "field of view"),
        ({"fov": -20.0}, "field of view"),
        ({"fov": float("nan")}, "field of view"),
        ({"fov": 60.0, "fx": 500.0}, "not both"),
        ({"fx": 1e-9}, "fx"),  # placed the hand 1.9e6 m behind the camera
        ({"fx": 1e12}, "fx"),  # 1e10 m away
        ({"fov": 179.999}, "field of view"),
        ({"fov": 1e-6}, "field of view"),
        ({"fx": 0.5 * 600 / math.tan(math.radians(175 / 2))}, "field of view"),  # within the focal range
        ({"cx": 3 * 600.0}, "cx"),
        ({"cy": -2 * 400.0}, "cy"),
        ({"cx": float("nan")}, "cx"),
    ],
)
def test_impossible_intrinsics(kwargs, reason):
    with pytest.raises(InputError) as info:
        resolve_intrinsics(600, 400, name="img.jpg", **kwargs)
    assert str(info.value).startswith("img.jpg: ") and reason in info.value.reason


def test_principal_point_slightly_outside_is_allowed():
    K, _ = resolve_intrinsics(600, 400, fx=500.0, cx=-100.0, cy=790.0)  # off-centre crops do this
    assert float(K[0, 2]) == -100.0 and float(K[1, 2]) == 790.0


@pytest.mark.parametrize(
    "kwargs, setting",
    [({"fx": 1e-9}, "fx"), ({"fy": 1e12}, "fy"), ({"fov": 179.999}, "fov"), ({"fov": 1e-6}, "fov"),
     ({"fov": 60.0, "fy": 500.0}, "fov"), ({"cx": float("nan")}, "cx")],
)  # fmt: skip
def test_camera_settings_no_image_could_use_are_refused_before_any_image(kwargs, setting):
    with pytest.raises(SettingError) as info:
        check_camera_settings(**kwargs)
    assert info.value.name == setting and "\n" not in str(info.value)


def test_plain_camera_settings_pass():
    check_camera_settings(fx=1500.0, fy=1490.0, cx=640.0, cy=360.0)
    check_camera_settings(fov=65.0)


@pytest.mark.parametrize(
    "K, reason",
    [
        (np.zeros((3, 3)), "[[fx, 0, cx]"),
        (np.full((3, 3), np.nan), "NaN"),
        (np.eye(2), "3x3"),
        (np.eye(3), "field of view"),  # put the hand at z = 5.5e6 m
        ([[500.0, 0, 300], [0, -500.0, 200], [0, 0, 1]], "positive"),
        ([[500.0, 0, 300], [0, 2000.0, 200], [0, 0, 1]], "fx / fy"),
        ([[500.0, 0, 3000], [0, 500.0, 200], [0, 0, 1]], "cx"),
        ([[500.0, 0, 300], [0, 500.0, 200], [0, 0, 2]], "[[fx, 0, cx]"),
        ("abc", "3x3 matrix of numbers"),
    ],
)
def test_check_intrinsics_refuses_what_is_not_a_camera(K, reason):
    with pytest.raises(SettingError) as info:
        check_intrinsics(K, 600, 400)
    assert str(info.value).startswith("K: ") and reason in info.value.reason


def test_check_intrinsics_keeps_a_camera_at_full_precision():
    K = torch.tensor([[523.456789123, 0, 301.5], [0, 523.456789123, 199.25], [0, 0, 1]], dtype=torch.float32)
    out = check_intrinsics(K, 600, 400)
    assert out.dtype == torch.float64 and torch.equal(out, K.double())
