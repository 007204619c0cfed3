"""Image loading: formats, colour modes, EXIF orientation, and a clear InputError for every bad file."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image, ImageFile, TiffImagePlugin

import handrecon.io.images as images
from handrecon.io import InputError, as_rgb_array, downscale_for_processing, load_image

from ._files import encode, exif_with, png_header_only, write


def _refusal(path, reason_part: str) -> InputError:
    with pytest.raises(InputError) as info:
        load_image(path)
    err = info.value
    assert isinstance(err, ValueError)
    assert str(err).startswith(f"{path}: ") and "\n" not in str(err)
    assert reason_part in err.reason
    return err


# --- bad files ---------------------------------------------------------------------------------------


def test_missing_directory_and_empty_files(tmp_path):
    _refusal(tmp_path / "nope.jpg", "not found")
    _refusal(tmp_path, "directory")
    _refusal(write(tmp_path / "zero.jpg", b""), "empty file")


def test_text_file_named_jpg(tmp_path):
    _refusal(write(tmp_path / "notes.jpg", b"just some notes, not pixels\n" * 10), "not an image")


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "TIFF", "BMP"])
def test_truncated_files_are_refused(tmp_path, photo, fmt):
    data = encode(photo, fmt)
    path = write(tmp_path / f"half.{fmt.lower()}", data[: len(data) // 2])
    _refusal(path, "truncated")


def test_truncated_jpeg_refused_even_when_pillow_is_told_to_accept_it(tmp_path, photo, monkeypatch):
    data = encode(photo, "JPEG", progressive=True)
    path = write(tmp_path / "half.jpg", data[: len(data) // 2])
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    _refusal(path, "truncated")
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True  # the caller's setting is restored


def test_corrupt_jpeg_data(tmp_path, photo):
    data = bytearray(encode(photo, "JPEG"))
    sos = data.index(b"\xff\xda")  # scan data starts after the SOS segment; wreck the Huffman tables instead
    dht = data.index(b"\xff\xc4")
    data[dht + 4 : sos] = b"\xff" * (sos - dht - 4)
    with pytest.raises(InputError):
        load_image(write(tmp_path / "bad.jpg", bytes(data)))


def test_too_small_and_empty(tmp_path):
    _refusal(write(tmp_path / "dot.png", encode(np.zeros((1, 1, 3), np.uint8), "PNG")), "too small")
    _refusal(write(tmp_path / "strip.png", encode(np.zeros((200, 20, 3), np.uint8), "PNG")), "too small")
    with pytest.raises(InputError, match="empty image"):
        as_rgb_array(np.zeros((0, 40, 3), np.uint8))


@pytest.mark.parametrize("size", [(12_000, 10_000), (20_000, 20_000)])  # above our limit; above Pillow's own
def test_huge_images_refused_from_the_header(tmp_path, size):
    path = write(tmp_path / "bomb.png", png_header_only(*size))
    _refusal(path, "too large")


def test_pixel_limit_applies_to_real_images(tmp_path, photo, monkeypatch):
    path = write(tmp_path / "ok.png", encode(photo, "PNG"))
    assert load_image(path).rgb.shape == (48, 64, 3)
    monkeypatch.setattr(images, "MAX_PIXELS", 48 * 64 - 1)
    _refusal(path, "too large")


# --- formats and colour modes ---------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "BMP", "TIFF"])
def test_lossless_formats_round_trip(tmp_path, photo, fmt):
    kw = {"lossless": True} if fmt == "WEBP" else {}
    loaded = load_image(write(tmp_path / f"p.{fmt.lower()}", encode(photo, fmt, **kw)))
    assert loaded.rgb.dtype == np.uint8 and loaded.rgb.flags.c_contiguous
    np.testing.assert_array_equal(loaded.rgb, photo)
    assert loaded.format == fmt and loaded.mode == "RGB"


def test_jpeg_is_close(tmp_path, photo):
    loaded = load_image(write(tmp_path / "p.jpg", encode(photo, "JPEG", quality=95)))
    assert loaded.rgb.shape == photo.shape
    assert np.abs(loaded.rgb.astype(int) - photo).mean() < 4


def test_grayscale_and_bilevel(tmp_path, photo):
    grey = photo[..., 1]
    rgb = load_image(write(tmp_path / "g.png", encode(grey, "PNG"))).rgb
    for c in range(3):
        np.testing.assert_array_equal(rgb[..., c], grey)
    bits = Image.fromarray(grey > 100).convert("1")
    rgb = load_image(write(tmp_path / "b.png", encode(bits, "PNG"))).rgb
    np.testing.assert_array_equal(rgb[..., 0], np.where(grey > 100, 255, 0))


def test_rgba_composited_on_mid_grey(tmp_path, photo):
    alpha = np.zeros(photo.shape[:2], np.uint8)
    alpha[:, 20:40] = 255
    alpha[:, 40:] = 102  # 40 %
    loaded = load_image(write(tmp_path / "a.png", encode(np.dstack([photo, alpha]), "PNG")))
    assert loaded.mode == "RGBA"
    rgb = loaded.rgb.astype(float)
    np.testing.assert_array_equal(rgb[:, :20], 128)
    np.testing.assert_array_equal(rgb[:, 20:40], photo[:, 20:40])
    expected = photo[:, 40:] * 0.4 + 128 * 0.6
    assert np.abs(rgb[:, 40:] - expected).max() <= 1.0


def test_background_can_be_chosen(tmp_path, photo):
    rgba = np.dstack([photo, np.zeros(photo.shape[:2], np.uint8)])
    rgb = load_image(write(tmp_path / "a.png", encode(rgba, "PNG")), background=(255, 255, 255)).rgb
    np.testing.assert_array_equal(rgb, 255)


def test_grey_with_alpha(tmp_path, photo):
    la = Image.fromarray(np.dstack([photo[..., 0], np.full(photo.shape[:2], 255, np.uint8)]), "LA")
    la.putpixel((0, 47), (200, 0))
    rgb = load_image(write(tmp_path / "la.png", encode(la, "PNG"))).rgb
    np.testing.assert_array_equal(rgb[10, 10], [photo[10, 10, 0]] * 3)
    np.testing.assert_array_equal(rgb[47, 0], [128, 128, 128])


def test_palette_images(tmp_path, photo):
    pal = Image.fromarray(photo).quantize(colors=16)
    expected = np.asarray(pal.convert("RGB"))
    loaded = load_image(write(tmp_path / "p.png", encode(pal, "PNG")))
    assert loaded.mode == "P"
    np.testing.assert_array_equal(loaded.rgb, expected)
    # one palette entry transparent: its pixels show the background
    index = np.asarray(pal)
    hidden = int(index[0, 0])
    loaded = load_image(write(tmp_path / "pt.png", encode(pal, "PNG", transparency=hidden)))
    np.testing.assert_array_equal(loaded.rgb[index == hidden], 128)
    np.testing.assert_array_equal(loaded.rgb[index != hidden], expected[index != hidden])


def test_rgb_colour_key_transparency(tmp_path, photo):
    key = tuple(int(c) for c in photo[0, 0])
    loaded = load_image(write(tmp_path / "k.png", encode(photo, "PNG", transparency=key)))
    np.testing.assert_array_equal(loaded.rgb[:8, :8], 128)
    np.testing.assert_array_equal(loaded.rgb[20:, 20:], photo[20:, 20:])


@pytest.mark.parametrize("byteorder, fmt", [("<u2", "PNG"), (">u2", "TIFF")])
def test_16_bit_grey_scaled_by_full_range(tmp_path, rng, byteorder, fmt):
    dim = rng.integers(1000, 3000, size=(40, 50)).astype(np.uint16)  # a dark image stays dark: no stretching
    loaded = load_image(write(tmp_path / f"g16.{fmt.lower()}", encode(dim.astype(byteorder), fmt)))
    assert loaded.mode.startswith("I;16")
    np.testing.assert_array_equal(loaded.rgb[..., 0], np.round(dim / 257.0).astype(np.uint8))
    ends = np.zeros((40, 50), np.uint16)
    ends[0, :3] = (0, 65535, 32768)
    loaded = load_image(write(tmp_path / f"e16.{fmt.lower()}", encode(ends.astype(byteorder), fmt)))
    np.testing.assert_array_equal(loaded.rgb[0, :3, 1], [0, 255, 128])


def test_32_bit_int_and_float_images(tmp_path):
    ramp = np.linspace(0.0, 1.0, 40 * 50, dtype=np.float32).reshape(40, 50)
    f = load_image(write(tmp_path / "f.tif", encode(Image.fromarray(ramp, "F"), "TIFF")))
    assert f.mode == "F"
    np.testing.assert_array_equal(f.rgb[..., 2], np.round(ramp * 255).astype(np.uint8))
    wide = (ramp * 1e6 - 5e5).astype(np.int32)  # outside the 16-bit range: stretched over min..max
    i = load_image(write(tmp_path / "i.tif", encode(Image.fromarray(wide, "I"), "TIFF")))
    assert i.mode == "I" and i.rgb[0, 0, 0] == 0 and i.rgb[-1, -1, 0] == 255


def test_cmyk(tmp_path):
    cmyk = Image.new("CMYK", (40, 40), (0, 255, 255, 0))  # full magenta + yellow = red
    for fmt in ("JPEG", "TIFF"):
        loaded = load_image(write(tmp_path / f"c.{fmt.lower()}", encode(cmyk, fmt)))
        assert loaded.mode == "CMYK"
        assert np.abs(loaded.rgb.astype(int) - [255, 0, 0]).max() <= 3


# --- EXIF orientation ---------------------------------------------------------------------------------

# What each orientation means, written from the EXIF definition (where row 0 / column 0 of the stored
# image belong in the upright view), independently of the code under test.
UPRIGHT = {
    1: lambda a: a,
    2: lambda a: a[:, ::-1],  # row 0 at the top, column 0 at the right
    3: lambda a: a[::-1, ::-1],  # row 0 at the bottom, column 0 at the right
    4: lambda a: a[::-1],  # row 0 at the bottom, column 0 at the left
    5: lambda a: a.transpose(1, 0, 2),  # row 0 on the left, column 0 at the top
    6: lambda a: a.transpose(1, 0, 2)[:, ::-1],  # row 0 on the right, column 0 at the top
    7: lambda a: a.transpose(1, 0, 2)[::-1, ::-1],  # row 0 on the right, column 0 at the bottom
    8: lambda a: a.transpose(1, 0, 2)[::-1],  # row 0 on the left, column 0 at the bottom
}


@pytest.mark.parametrize("orientation", sorted(UPRIGHT))
def test_exif_orientation_applied(tmp_path, photo, orientation):
    path = write(tmp_path / "o.png", encode(photo, "PNG", exif=exif_with(orientation)))
    loaded = load_image(path)
    np.testing.assert_array_equal(loaded.rgb, UPRIGHT[orientation](photo))
    assert loaded.orientation == orientation


def test_exif_orientation_in_jpeg_turns_the_photo_upright(tmp_path, photo):
    # orientation 6: the camera was turned clockwise; the upright view is the stored image turned 90 deg cw
    loaded = load_image(write(tmp_path / "o.jpg", encode(photo, "JPEG", exif=exif_with(6), quality=95)))
    assert loaded.rgb.shape == (64, 48, 3)
    assert np.abs(loaded.rgb[:8, -8:].astype(int) - [255, 0, 0]).mean() < 20  # the red corner is now top right
    assert np.abs(loaded.rgb.astype(int) - UPRIGHT[6](photo)).mean() < 4


def test_focal_tags_follow_the_rotation(tmp_path, photo):
    exif = exif_with(
        6,
        FocalLength=TiffImagePlugin.IFDRational(42, 10),
        FocalPlaneXResolution=TiffImagePlugin.IFDRational(100, 1),  # pixels per cm along the stored rows
        FocalPlaneYResolution=TiffImagePlugin.IFDRational(130, 1),
        FocalPlaneResolutionUnit=3,
        ExifImageWidth=64,  # the stored image's size (the resolutions refer to it)
        ExifImageHeight=48,
    )
    loaded = load_image(write(tmp_path / "f.jpg", encode(photo, "JPEG", exif=exif)))
    assert loaded.exif["FocalPlaneXResolution"] == 130 and loaded.exif["FocalPlaneYResolution"] == 100
    fx, fy = loaded.exif_focal_px  # 4.2 mm times pixels per mm, x of the upright image = y of the sensor
    assert fx == pytest.approx(4.2 * 13.0) and fy == pytest.approx(4.2 * 10.0)


def test_no_exif(tmp_path, photo):
    loaded = load_image(write(tmp_path / "n.png", encode(photo, "PNG")))
    assert loaded.exif == {} and loaded.exif_focal_px is None and loaded.orientation == 1


# --- arrays and PIL images from Python ---------------------------------------------------------------


def test_as_rgb_array_accepts_common_layouts(photo):
    np.testing.assert_array_equal(as_rgb_array(photo), photo)
    np.testing.assert_array_equal(as_rgb_array(photo / 255.0), photo)
    np.testing.assert_array_equal(as_rgb_array(torch.from_numpy(photo)), photo)
    np.testing.assert_array_equal(as_rgb_array(photo.astype(np.uint16) * 257), photo)
    grey = photo[..., 0]
    np.testing.assert_array_equal(as_rgb_array(grey), np.repeat(grey[..., None], 3, 2))
    np.testing.assert_array_equal(as_rgb_array(grey[..., None]), np.repeat(grey[..., None], 3, 2))
    rgba = np.dstack([photo, np.full(photo.shape[:2], 255, np.uint8)])
    rgba[0, 0, 3] = 0
    out = as_rgb_array(rgba)
    np.testing.assert_array_equal(out[0, 0], 128)
    np.testing.assert_array_equal(out[1:], photo[1:])


def test_as_rgb_array_pil_image_applies_orientation(photo):
    im = Image.open(__import__("io").BytesIO(encode(photo, "PNG", exif=exif_with(8))))
    np.testing.assert_array_equal(as_rgb_array(im), UPRIGHT[8](photo))
    np.testing.assert_array_equal(
        as_rgb_array(Image.fromarray(photo).convert("L")),
        np.asarray(Image.fromarray(photo).convert("RGB").convert("L").convert("RGB")),
    )


def test_as_rgb_array_path(tmp_path, photo):
    path = write(tmp_path / "p.png", encode(photo, "PNG"))
    np.testing.assert_array_equal(as_rgb_array(path), photo)


@pytest.mark.parametrize(
    "bad, reason",
    [
        (np.zeros((3, 48, 64), np.uint8), "shape"),  # channel-first
        (np.zeros((48, 64, 2), np.uint8), "shape"),
        (np.full((48, 64, 3), 2.0), "[0, 1]"),  # 0..255 values as floats
        (np.full((48, 64, 3), np.nan), "NaN"),
        (np.full((48, 64, 3), -3, np.int32), "pixel type"),
        (np.zeros((10, 64, 3), np.uint8), "too small"),
    ],
)
def test_as_rgb_array_refusals(bad, reason):
    with pytest.raises(InputError, match=None) as info:
        as_rgb_array(bad, name="frame 7")
    assert str(info.value).startswith("frame 7: ") and reason in info.value.reason


# --- downscaling ------------------------------------------------------------------------------------


def test_downscale_for_processing(rng):
    img = np.zeros((300, 500, 3), np.uint8)
    img[:, :250] = (200, 30, 60)
    small, scale = downscale_for_processing(img, max_side=100)
    assert small.shape == (60, 100, 3) and scale == pytest.approx(0.2)
    assert np.abs(small[:, :45].astype(int) - [200, 30, 60]).max() <= 1  # content kept, left half red
    assert small[:, 55:].max() <= 1
    same, one = downscale_for_processing(img, max_side=500)
    assert same is img and one == 1.0
