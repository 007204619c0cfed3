"""Camera intrinsics for a photo: from the user's flags, else from EXIF, else a documented default.

EXIF conventions:
- `FocalLengthIn35mmFilm` is converted with the diagonal of the 36 x 24 mm frame (43.27 mm) matched to the
  image diagonal: f_px = f35 * hypot(W, H) / 43.27. This is how camera and phone makers define the
  equivalent focal length (crop factor = diagonal ratio). For 3:2 images it equals the common "long side
  = 36 mm" approximation; for 4:3 phone photos that approximation gives a focal length 4 % too short
  (an iPhone 12 main camera, 4.2 mm, 1.4 um pixels, reports 26 mm: the true 3000 px is matched by the
  diagonal rule, 3028 px, not by the long side, 2912 px).
- It is preferred to `FocalLength` x `FocalPlaneXResolution` because it is relative to the image, so it
  survives resizing; the focal-plane tags refer to the image as the camera wrote it and are rescaled by
  `PixelXDimension` (Pillow's ExifImageWidth) when that tag disagrees with the actual width.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from PIL import ExifTags, Image

from handrecon.geometry.camera import intrinsics, intrinsics_from_fov
from handrecon.io.errors import InputError

FRAME_35MM_DIAGONAL_MM = math.hypot(36.0, 24.0)

# Default field of view along the longer image side, for images without flags or EXIF.
# Phone main cameras (24-28 mm equivalent, 4:3) see 63-72 degrees along the long side, laptop webcams
# 55-70; but images without EXIF are mostly video frames, webcam captures and resized or cropped web
# images, and cropping narrows the view. 60 degrees keeps the focal length within 13 % of the truth
# for anything from 55 to 67 degrees (the hand's depth scales with it); pass fov or fx when the camera
# is known.
DEFAULT_FOV_DEG = 60.0

# Tag names (as Pillow's ExifTags spells them) read from the file.
FOCAL_TAGS = (
    "FocalLength",
    "FocalLengthIn35mmFilm",
    "FocalPlaneXResolution",
    "FocalPlaneYResolution",
    "FocalPlaneResolutionUnit",
    "ExifImageWidth",  # EXIF's PixelXDimension
    "ExifImageHeight",  # EXIF's PixelYDimension
)
_SWAPPED = {
    "FocalPlaneXResolution": "FocalPlaneYResolution",
    "FocalPlaneYResolution": "FocalPlaneXResolution",
    "ExifImageWidth": "ExifImageHeight",
    "ExifImageHeight": "ExifImageWidth",
}
_UNIT_MM = {2: 25.4, 3: 10.0, 4: 1.0, 5: 0.001}  # inch, cm, mm, um (1 = no absolute unit: unusable)
_PLAUSIBLE_FOV_DEG = (1.0, 160.0)  # EXIF outside this is junk, not a lens


def read_focal_tags(exif: Image.Exif, transposed: bool = False) -> dict[str, float]:
    """The focal tags of `FOCAL_TAGS` that hold positive finite numbers, by name.

    They live in the Exif sub-IFD, some writers put them in IFD0. With `transposed` (EXIF orientations
    5-8, a 90 degree turn) the x and y tags are swapped so that they describe the upright image.
    """
    try:
        sources = [exif.get_ifd(ExifTags.IFD.Exif), exif]
    except Exception:
        sources = [exif]
    tags: dict[str, float] = {}
    for name in FOCAL_TAGS:
        tag_id = ExifTags.Base[name].value
        for src in sources:
            try:
                value = float(src[tag_id])
            except (KeyError, TypeError, ValueError, ZeroDivisionError):
                continue
            if math.isfinite(value) and value > 0:
                tags[_SWAPPED.get(name, name) if transposed else name] = value
                break
    return tags


def camera_from_exif(exif: Mapping[str, Any] | Image.Exif | None, width: int, height: int) -> torch.Tensor | None:
    """K (3x3 float64, principal point at the image centre) from EXIF tags, or None when they do not say.

    `exif` is a dict from `read_focal_tags` (as `LoadedImage.exif` holds) or a Pillow `Image.Exif`.
    Values that imply a field of view outside 1-160 degrees are ignored as junk.
    """
    if exif is None:
        return None
    if isinstance(exif, Image.Exif):
        exif = read_focal_tags(exif)
    focal = _focal_from_tags(exif, width, height)
    if focal is None:
        return None
    fx, fy = focal
    fov = 2 * math.degrees(math.atan(max(width, height) / (2 * max(fx, fy))))
    if not (_PLAUSIBLE_FOV_DEG[0] <= fov <= _PLAUSIBLE_FOV_DEG[1]) or not (0.5 < fx / fy < 2.0):
        return None
    return intrinsics(fx, fy, width / 2, height / 2, dtype=torch.float64)


def _tag(exif: Mapping[str, Any], name: str) -> float | None:
    try:
        value = float(exif[name])
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return None
    return value if math.isfinite(value) and value > 0 else None


def _focal_from_tags(exif: Mapping[str, Any], width: int, height: int) -> tuple[float, float] | None:
    f35 = _tag(exif, "FocalLengthIn35mmFilm")
    if f35 is not None:
        f = f35 * math.hypot(width, height) / FRAME_35MM_DIAGONAL_MM
        return f, f
    f_mm, xres = _tag(exif, "FocalLength"), _tag(exif, "FocalPlaneXResolution")
    if f_mm is None or xres is None:
        return None
    yres = _tag(exif, "FocalPlaneYResolution") or xres
    unit_mm = _UNIT_MM.get(int(_tag(exif, "FocalPlaneResolutionUnit") or 2))  # 2 (inch) is EXIF's default
    if unit_mm is None:
        return None
    fx, fy = f_mm * xres / unit_mm, f_mm * yres / unit_mm
    full_w, full_h = _tag(exif, "ExifImageWidth"), _tag(exif, "ExifImageHeight")
    if full_w:  # the resolution refers to the image as the camera wrote it
        fx *= width / full_w
        fy *= (height / full_h) if full_h else width / full_w
    return fx, fy


def resolve_intrinsics(
    width: int,
    height: int,
    fx: float | None = None,
    fy: float | None = None,
    cx: float | None = None,
    cy: float | None = None,
    fov: float | None = None,
    exif: Mapping[str, Any] | Image.Exif | None = None,
    name: Any = None,
) -> tuple[torch.Tensor, str]:
    """K (3x3 float64) and where its focal length came from: "flags", "fov", "exif" or "default".

    Precedence: explicit fx / fy (one alone sets both) or `fov` (degrees along the longer image side,
    which is the sensor's long side whichever way the phone was held), else EXIF, else DEFAULT_FOV_DEG.
    cx, cy default to the image centre and, when given, apply whatever the focal length's source
    ("exif+flags" then). Impossible values raise `InputError` naming `name`.
    """
    if not (width > 0 and height > 0):
        raise InputError(name, f"image size must be positive, got {width}x{height}")
    if fov is not None and (fx is not None or fy is not None):
        raise InputError(name, "give either a field of view or focal lengths, not both")
    for label, value in (("fx", fx), ("fy", fy)):
        if value is not None and not (math.isfinite(value) and value > 0):
            raise InputError(name, f"focal length {label} must be a positive number of pixels, got {value}")
    if fov is not None and not (math.isfinite(fov) and 0 < fov < 180):
        raise InputError(name, f"field of view must be between 0 and 180 degrees, got {fov}")
    for label, value, size in (("cx", cx, width), ("cy", cy, height)):
        if value is not None and not (math.isfinite(value) and -size <= value <= 2 * size):
            raise InputError(name, f"principal point {label}={value} lies far outside the {width}x{height} image")

    if fx is not None or fy is not None:
        fx = fx if fx is not None else fy
        fy = fy if fy is not None else fx
        K, source = intrinsics(fx, fy, width / 2, height / 2, dtype=torch.float64), "flags"
    elif fov is not None:
        K, source = intrinsics_from_fov(width, height, fov, dtype=torch.float64), "fov"
    else:
        K = camera_from_exif(exif, width, height)
        source = "exif"
        if K is None:
            K, source = intrinsics_from_fov(width, height, DEFAULT_FOV_DEG, dtype=torch.float64), "default"
    if cx is not None or cy is not None:
        K = K.clone()
        K[0, 2] = cx if cx is not None else K[0, 2]
        K[1, 2] = cy if cy is not None else K[1, 2]
        if source in ("exif", "default"):
            source += "+flags"
    return K, source
