"""Loading images into RGB uint8 arrays, with EXIF orientation applied and every failure as `InputError`.

Conventions:
- Pixels are returned as the camera saw them upright: the EXIF orientation tag is applied, as phone
  galleries and browsers do, and the focal-plane EXIF tags are re-expressed for the rotated image.
- Transparent pixels are composited on mid grey (128, 128, 128) by default. Grey is neutral for the
  detector and networks (close to the ImageNet mean they normalise by) and keeps contrast with light and
  dark skin alike, where white would wash out pale hands against a cut-out background.
- 16-bit and float grey images are scaled to 8 bit by their format's full range (65535, or 1.0 for
  floats in [0, 1]); 32-bit integer or float images outside those ranges are stretched over their own
  min..max. 16-bit colour PNGs are reduced to 8 bit by Pillow itself (high byte).
- Colour profiles (ICC) are not applied: CMYK converts naively, wide-gamut RGB is taken as sRGB.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError

from handrecon.io.errors import InputError
from handrecon.io.exif_camera import camera_from_exif, read_focal_tags

MIN_SIDE = 32  # below this a hand cannot be resolved: the network crops are 224-256 px
MAX_PIXELS = 100_000_000  # refused outright: decoding alone would need > 300 MB (decompression bombs)
PROCESSING_MAX_SIDE = 4096  # larger images are worth downscaling before detection (about 16 MP)
DEFAULT_BACKGROUND = (128, 128, 128)

_ORIENTATION_TAG = 0x0112
# EXIF orientation -> the turn of the pixel array that shows the image upright (CIPA DC-008, tag 274),
# as views: one copy when made contiguous, where a Pillow transpose needs two.
_ORIENT_ARRAY_OPS = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.transpose(1, 0, 2),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: np.rot90(a, 2).transpose(1, 0, 2),
    8: lambda a: np.rot90(a, 1),
}
_BAND_ROWS = 256  # rows converted at a time from a decoded Pillow image to the output array
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, MemoryError)


@dataclass(frozen=True)
class LoadedImage:
    """An upright RGB image and what the file told about the camera."""

    rgb: np.ndarray  # (H, W, 3) uint8
    path: Path | None
    mode: str  # Pillow mode of the file before conversion, e.g. "RGB", "P", "I;16", "CMYK"
    format: str | None = None  # "JPEG", "PNG", ...
    orientation: int = 1  # EXIF orientation that was applied (1: none)
    exif: dict[str, float] = field(default_factory=dict)  # focal tags for the upright image

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])

    @property
    def exif_focal_px(self) -> tuple[float, float] | None:
        """(fx, fy) in pixels from EXIF, or None when the file does not say (see `camera_from_exif`)."""
        K = camera_from_exif(self.exif, self.width, self.height)
        return None if K is None else (float(K[0, 0]), float(K[1, 1]))


def _check_size(width: int, height: int, name: Any) -> None:
    if width <= 0 or height <= 0:
        raise InputError(name, f"empty image ({width}x{height} pixels)")
    if width * height > MAX_PIXELS:
        mp, limit = width * height / 1e6, MAX_PIXELS / 1e6
        raise InputError(name, f"image too large ({width}x{height}, {mp:.0f} megapixels; limit {limit:.0f})")
    if min(width, height) < MIN_SIDE:
        raise InputError(name, f"image too small ({width}x{height} pixels; a hand needs {MIN_SIDE} px per side)")


def _decode_failure(name: Any, e: BaseException) -> InputError:
    """Name truncation plainly: it is the common case (interrupted downloads and copies)."""
    if isinstance(e, EOFError) or "truncated" in str(e).lower():
        return InputError(name, "truncated image")
    return InputError(name, f"corrupt or unreadable image data ({type(e).__name__}: {e})")


@contextmanager
def _strict_decoding() -> Iterator[None]:
    """Make Pillow raise on truncated data even if some other code enabled LOAD_TRUNCATED_IMAGES."""
    previous = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        yield
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = previous


def _riff_truncated(path: Path) -> bool:
    """WebP files declare their length in the RIFF header; libwebp's error on a short file is vague."""
    with open(path, "rb") as f:
        head = f.read(12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WEBP":
        return False
    return int.from_bytes(head[4:8], "little") + 8 > path.stat().st_size


def _scale_to_uint8(a: np.ndarray, full_scale: float | None) -> np.ndarray:
    """Map to 0..255 by a known full scale, or by the finite min..max when the range is not known."""
    a = a.astype(np.float64)
    finite = np.isfinite(a)
    if full_scale is None:
        lo, hi = (float(a[finite].min()), float(a[finite].max())) if finite.any() else (0.0, 1.0)
        a = (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)
    else:
        a = a / full_scale
    a = np.where(finite, a, 0.0)
    return np.round(np.clip(a, 0.0, 1.0) * 255.0).astype(np.uint8)


def _high_bit_depth_to_uint8(img: Image.Image) -> np.ndarray:
    """Grey I;16*, I (32-bit int) and F (32-bit float) images -> (H, W) uint8."""
    a = np.asarray(img)
    if img.mode.startswith("I;16"):
        return _scale_to_uint8(a, 65535.0)
    lo, hi = (float(np.nanmin(a)), float(np.nanmax(a))) if np.isfinite(a).any() else (0.0, 0.0)
    if img.mode == "I" and lo >= 0 and hi <= 65535:
        return _scale_to_uint8(a, 65535.0)  # 16-bit samples held in a 32-bit container (TIFF, PGM)
    if img.mode == "F" and lo >= 0 and hi <= 1:
        return _scale_to_uint8(a, 1.0)
    return _scale_to_uint8(a, None)


def _composite(rgba: np.ndarray, background: tuple[int, int, int]) -> np.ndarray:
    """Alpha-blend straight (non-premultiplied) RGBA uint8 over a solid colour, rounding to nearest."""
    alpha = rgba[..., 3:4].astype(np.uint32)
    bg = np.asarray(background, dtype=np.uint32)
    out = (rgba[..., :3].astype(np.uint32) * alpha + bg * (255 - alpha) + 127) // 255
    return out.astype(np.uint8)


def _rgb_in_bands(img: Image.Image) -> np.ndarray:
    """An RGB Pillow image as a (H, W, 3) array, copied a band of rows at a time: `np.asarray(img)` goes
    through `tobytes()`, whose joined chunks cost twice the image again (600 MB for a 100 MP photo)."""
    w, h = img.size
    out = np.empty((h, w, 3), np.uint8)
    for y in range(0, h, _BAND_ROWS):
        y1 = min(h, y + _BAND_ROWS)
        out[y:y1] = np.asarray(img.crop((0, y, w, y1)))
    return out


def _pil_to_rgb(img: Image.Image, background: tuple[int, int, int], name: Any) -> np.ndarray:
    """Any Pillow mode -> (H, W, 3) uint8."""
    mode = img.mode
    try:
        if mode.startswith("I;16") or mode in ("I", "F"):
            g = _high_bit_depth_to_uint8(img)
            return np.repeat(g[..., None], 3, axis=2)
        if mode in ("RGBa", "La", "PA") or (mode in ("P", "L", "RGB", "1") and "transparency" in img.info):
            img = img.convert("RGBA")  # un-premultiplies, resolves palettes and tRNS colour keys
        if img.mode in ("RGBA", "LA"):
            return _composite(np.asarray(img.convert("RGBA")), background)
        if img.mode == "RGB":
            return _rgb_in_bands(img)
        return np.asarray(img.convert("RGB"))  # L, 1, P, CMYK (naive, no ICC), YCbCr, HSV
    except (ValueError, OSError) as e:
        raise InputError(name, f"unsupported colour mode {mode}") from e


def load_image(path: str | os.PathLike, background: tuple[int, int, int] = DEFAULT_BACKGROUND) -> LoadedImage:
    """Read an image file (JPEG, PNG, WebP, BMP, TIFF, ...) upright as RGB uint8, or raise `InputError`.

    The first frame is used for multi-frame files. Truncated or corrupt files are refused rather than
    decoded with grey filler, so a reconstruction never runs on half an image.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(p, "file not found")
    if p.is_dir():
        raise InputError(p, "is a directory, not an image file")
    try:
        if p.stat().st_size == 0:
            raise InputError(p, "empty file (0 bytes)")
        if _riff_truncated(p):
            raise InputError(p, "truncated image")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # the limit is checked below
            img = Image.open(p)
    except InputError:
        raise
    except Image.DecompressionBombError as e:
        raise InputError(p, f"image too large (limit {MAX_PIXELS / 1e6:.0f} megapixels)") from e
    except UnidentifiedImageError as e:
        raise InputError(p, "not an image file, or a format that cannot be read") from e
    except _DECODE_ERRORS as e:
        raise _decode_failure(p, e) from e

    with img:
        mode, fmt = img.mode, img.format
        rgb, orientation, exif = _decode(img, p, background)
    tags = read_focal_tags(exif, transposed=orientation >= 5) if exif is not None else {}
    return LoadedImage(rgb, p, mode, fmt, orientation, tags)


def _decode(img: Image.Image, name: Any, background: tuple[int, int, int]) -> tuple[np.ndarray, int, Image.Exif | None]:
    """Decode strictly, convert to RGB and turn upright; returns (rgb, applied orientation, EXIF)."""
    _check_size(img.width, img.height, name)
    try:
        with _strict_decoding():
            img.load()
    except _DECODE_ERRORS as e:
        raise _decode_failure(name, e) from e
    try:
        exif = img.getexif()
        orientation = int(exif.get(_ORIENTATION_TAG, 1) or 1)
    except Exception:  # a broken EXIF block must not cost the pixels
        exif, orientation = None, 1
    orientation = orientation if orientation in _ORIENT_ARRAY_OPS else 1
    rgb = _pil_to_rgb(img, background, name)
    if orientation != 1:
        rgb = _ORIENT_ARRAY_OPS[orientation](rgb)
    return np.ascontiguousarray(rgb), orientation, exif


def as_rgb_array(x: Any, name: str = "<array>", background: tuple[int, int, int] = DEFAULT_BACKGROUND) -> np.ndarray:
    """RGB uint8 (H, W, 3) from what a Python caller may hold, or `InputError` naming `name`.

    Accepted: a path; a PIL image (EXIF orientation applied, as for files); numpy arrays or CPU/CUDA
    tensors laid out (H, W), (H, W, 1), (H, W, 3) RGB or (H, W, 4) RGBA, as uint8, uint16, bool or
    float in [0, 1]. Arrays are taken as RGB: convert OpenCV's BGR first.
    """
    if isinstance(x, (str, os.PathLike)):
        return load_image(x, background).rgb
    if isinstance(x, Image.Image):
        return _decode(x, name, background)[0]
    # a tensor can only exist once torch is imported: a caller without torch does not load it here
    torch = sys.modules.get("torch")
    is_tensor = torch is not None and isinstance(x, torch.Tensor)
    a = x.detach().cpu().numpy() if is_tensor else np.asarray(x)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] in (3, 4))):
        raise InputError(name, f"expected an (H, W), (H, W, 3) or (H, W, 4) array, got shape {tuple(a.shape)}")
    _check_size(a.shape[1], a.shape[0], name)
    a = _array_to_uint8(a, name)
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    elif a.shape[2] == 4:
        a = _composite(a, background)
    return np.ascontiguousarray(a)


def _array_to_uint8(a: np.ndarray, name: str) -> np.ndarray:
    if a.dtype == np.uint8:
        return a
    if a.dtype == np.bool_:
        return a.astype(np.uint8) * 255
    if a.dtype == np.uint16:
        return _scale_to_uint8(a, 65535.0)
    if a.dtype.kind == "f":
        if not np.isfinite(a).all():
            raise InputError(name, "image contains NaN or infinite values")
        lo, hi = float(a.min()), float(a.max())
        if lo < 0.0 or hi > 1.0:
            raise InputError(name, f"float images must lie in [0, 1], got values in [{lo:.3g}, {hi:.3g}]")
        return _scale_to_uint8(a, 1.0)
    if a.dtype.kind in "iu" and a.min() >= 0 and a.max() <= 255:
        return a.astype(np.uint8)
    raise InputError(name, f"unsupported pixel type {a.dtype} (use uint8, uint16 or float in [0, 1])")


def downscale_for_processing(rgb: np.ndarray, max_side: int = PROCESSING_MAX_SIDE) -> tuple[np.ndarray, float]:
    """Shrink an image whose longer side exceeds `max_side`; returns (image, scale) with scale <= 1.

    Pixel coordinates map as u_small = u * scale (exactly along the longer side; the shorter side's
    size is rounded, so it may differ by under half a pixel), and intrinsics fx, fy, cx, cy scale by
    the same factor. Images already small enough are returned as they are, with scale 1. Pixel-area
    averaging (OpenCV's INTER_AREA) runs on the array itself, a crop (view) included, without the
    whole-image copy a Pillow image would need (400 MB for a 100 MP photo).
    """
    import cv2

    if max_side < 1:
        raise ValueError(f"max_side must be positive, got {max_side}")
    h, w = rgb.shape[:2]
    if max(h, w) <= max_side:
        return rgb, 1.0
    scale = max_side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA), scale
