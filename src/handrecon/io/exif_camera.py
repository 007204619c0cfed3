"""Camera intrinsics for a photo: from the user's flags, else from EXIF, else a documented default.

EXIF conventions:
- `FocalLengthIn35mmFilm` is converted with the diagonal of the 36 x 24 mm frame (43.27 mm) matched to the
  image diagonal: f_px = f35 * hypot(W, H) / 43.27. This is how camera and phone makers define the
  equivalent focal length (crop factor = diagonal ratio). For 3:2 images it equals the common "long side
  = 36 mm" approximation; for 4:3 phone photos that approximation gives a focal length 4 % too short
  (an iPhone 12 main camera, 4.2 mm, 1.4 um pixels, reports 26 mm: the true 3000 px is matched by the
  diagonal rule, 3028 px, not by the long side, 2912 px).
- It is preferred to `FocalLength` x `FocalPlaneXResolution` because it is relative to the image, so it
  survives resizing. The focal-plane tags refer to the image as the camera wrote it, so they are used
  only when `PixelXDimension` / `PixelYDimension` (Pillow's ExifImageWidth / Height) say which size that
  was and the image is that size or a uniform rescale of it; without them a resized photo would get a
  focal length too large by the resize factor (a photo downsized from 6000 to 848 px came out 7x too far).
- EXIF implying a field of view outside `EXIF_FOV_RANGE_DEG` is junk, not a lens. Whenever EXIF is not
  used, `resolve_intrinsics` says why in its source ("default (EXIF ...)").

Intrinsics the caller gives (flags, fov, a K matrix) must describe a physically meaningful pinhole
camera: a field of view within `FOV_RANGE_DEG` along the longer image side, square-ish pixels and a
principal point near the image; anything else is refused as `SettingError` instead of placing the hand
kilometres away or behind the camera.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from PIL import ExifTags, Image

from handrecon.io.errors import InputError, SettingError

if TYPE_CHECKING:
    import torch

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

# Fields of view (degrees, along the longer image side) a pinhole camera given by the caller may have:
# 1 degree is a 2000 mm lens on a full-frame camera, 170 degrees beyond any rectilinear lens; outside,
# the hand would be placed kilometres away or behind the camera.
FOV_RANGE_DEG = (1.0, 170.0)
# Focal lengths in pixels a caller may give before the image size is known (any image handrecon reads
# has sides of 32 px to 100 megapixels; the field-of-view check per image is the real test).
FOCAL_RANGE_PX = (1.0, 1.0e6)
MAX_PIXEL_ASPECT = 2.0  # fx / fy beyond this (or its inverse) is not a camera
# EXIF implying a field of view outside this is junk or refers to another image size: 5 degrees is a
# 400 mm lens on a full-frame camera, 150 degrees a phone's ultra-wide.
EXIF_FOV_RANGE_DEG = (5.0, 150.0)
_SIZE_TOLERANCE = 0.01  # relative: EXIF pixel dimensions that match the image, or its uniform rescale


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
    """K (3x3 float64, principal point at the image centre) from EXIF tags, or None when they do not say
    or are not consistent with the image (see `exif_intrinsics` for the reason)."""
    return exif_intrinsics(exif, width, height)[0]


def exif_intrinsics(
    exif: Mapping[str, Any] | Image.Exif | None, width: int, height: int
) -> tuple[torch.Tensor | None, str]:
    """(K or None, why not) from EXIF tags: a dict from `read_focal_tags` (as `LoadedImage.exif` holds)
    or a Pillow `Image.Exif`. The reason is "" when K is given."""
    import torch

    from handrecon.geometry.camera import intrinsics

    if exif is None:
        return None, "no EXIF focal length"
    if isinstance(exif, Image.Exif):
        exif = read_focal_tags(exif)
    focal, why = _focal_from_tags(exif, width, height)
    if focal is None:
        return None, why
    fx, fy = focal
    fov = _fov_deg(max(fx, fy), width, height)
    lo, hi = EXIF_FOV_RANGE_DEG
    if not (lo <= fov <= hi):
        return None, f"EXIF focal length implies a {fov:.3g} degree field of view, outside {lo:g}-{hi:g}"
    if not (1 / MAX_PIXEL_ASPECT < fx / fy < MAX_PIXEL_ASPECT):
        return None, f"EXIF focal-plane resolutions differ by a factor {fx / fy:.3g}"
    return intrinsics(fx, fy, width / 2, height / 2, dtype=torch.float64), ""


def _fov_deg(focal_px: float, width: int, height: int) -> float:
    """Field of view in degrees along the longer image side."""
    return 2 * math.degrees(math.atan(max(width, height) / (2 * focal_px)))


def _tag(exif: Mapping[str, Any], name: str) -> float | None:
    try:
        value = float(exif[name])
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return None
    return value if math.isfinite(value) and value > 0 else None


def _focal_from_tags(exif: Mapping[str, Any], width: int, height: int) -> tuple[tuple[float, float] | None, str]:
    f35 = _tag(exif, "FocalLengthIn35mmFilm")
    if f35 is not None:
        f = f35 * math.hypot(width, height) / FRAME_35MM_DIAGONAL_MM
        return (f, f), ""
    f_mm, xres = _tag(exif, "FocalLength"), _tag(exif, "FocalPlaneXResolution")
    if f_mm is None:
        return None, "no EXIF focal length"
    if xres is None:
        return None, "EXIF FocalLength without FocalLengthIn35mmFilm or the sensor's resolution"
    yres = _tag(exif, "FocalPlaneYResolution") or xres
    unit_mm = _UNIT_MM.get(int(_tag(exif, "FocalPlaneResolutionUnit") or 2))  # 2 (inch) is EXIF's default
    if unit_mm is None:
        return None, "EXIF focal-plane resolution has no absolute unit"
    full_w, full_h = _tag(exif, "ExifImageWidth"), _tag(exif, "ExifImageHeight")
    if full_w is None or full_h is None:
        return None, "EXIF focal-plane resolution without the pixel dimensions it refers to (PixelXDimension)"
    sx, sy = width / full_w, height / full_h
    if abs(sx / sy - 1) > _SIZE_TOLERANCE:
        return None, (
            f"EXIF focal-plane resolution refers to a {full_w:.0f}x{full_h:.0f} image, "
            f"not this {width}x{height} one or a rescale of it (cropped?)"
        )
    # the resolution refers to the image as the camera wrote it: rescale to this one
    return (f_mm * xres / unit_mm * sx, f_mm * yres / unit_mm * sy), ""


def check_camera_settings(
    fx: float | None = None,
    fy: float | None = None,
    cx: float | None = None,
    cy: float | None = None,
    fov: float | None = None,
) -> None:
    """Refuse intrinsics settings no image could use, before any image is read (`SettingError` naming the
    setting). What depends on the image size is checked per image by `check_intrinsics`."""
    if fov is not None and (fx is not None or fy is not None):
        raise SettingError("fov", "give either a field of view or focal lengths, not both")
    lo, hi = FOCAL_RANGE_PX
    for label, value in (("fx", fx), ("fy", fy)):
        if value is not None and not (math.isfinite(value) and lo <= value <= hi):
            raise SettingError(label, f"focal length must be {lo:g} to {hi:g} pixels, got {value}")
    lo, hi = FOV_RANGE_DEG
    if fov is not None and not (math.isfinite(fov) and lo <= fov <= hi):
        raise SettingError("fov", f"field of view must be {lo:g} to {hi:g} degrees, got {fov}")
    for label, value in (("cx", cx), ("cy", cy)):
        if value is not None and not math.isfinite(value):
            raise SettingError(label, f"principal point must be a finite number of pixels, got {value}")


def check_intrinsics(K: Any, width: int, height: int, name: Any = "K") -> torch.Tensor:
    """K as a (3, 3) float64 tensor if it is a pinhole camera this image could have been taken with, else
    `SettingError` naming `name`: finite, [[fx, 0, cx], [0, fy, cy], [0, 0, 1]] with fx, fy > 0 of at most
    `MAX_PIXEL_ASPECT` ratio, a field of view within `FOV_RANGE_DEG` and the principal point near the image."""
    import torch

    try:
        K = torch.as_tensor(K.detach().cpu() if isinstance(K, torch.Tensor) else K, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError) as e:
        raise SettingError(name, f"intrinsics must be a 3x3 matrix of numbers ({e})") from e
    if K.shape != (3, 3):
        raise SettingError(name, f"intrinsics must be a 3x3 matrix, got shape {tuple(K.shape)}")
    if not torch.isfinite(K).all():
        raise SettingError(name, "intrinsics hold NaN or infinite values")
    pinhole = torch.equal(K[2], K.new_tensor([0.0, 0.0, 1.0])) and float(K[1, 0]) == 0
    if not (pinhole and abs(float(K[0, 1])) <= 1e-6 * abs(float(K[0, 0]))):  # no skew
        raise SettingError(name, f"intrinsics must be [[fx, 0, cx], [0, fy, cy], [0, 0, 1]], got {K.tolist()}")
    fx, fy, cx, cy = (float(K[0, 0]), float(K[1, 1]), float(K[0, 2]), float(K[1, 2]))
    if not (fx > 0 and fy > 0):
        raise SettingError(name, f"focal lengths must be positive, got fx={fx:g}, fy={fy:g}")
    if not (1 / MAX_PIXEL_ASPECT <= fx / fy <= MAX_PIXEL_ASPECT):
        raise SettingError(name, f"fx / fy = {fx / fy:.3g} is not a camera's (at most {MAX_PIXEL_ASPECT:g})")
    lo, hi = FOV_RANGE_DEG
    fov = _fov_deg(max(fx, fy), width, height)
    if not (lo <= fov <= hi):
        raise SettingError(
            name, f"fx={fx:g}, fy={fy:g} give a {fov:.4g} degree field of view for a {width}x{height} image; "
            f"it must be {lo:g} to {hi:g}"
        )  # fmt: skip
    for label, value, size in (("cx", cx, width), ("cy", cy, height)):
        if not (-size <= value <= 2 * size):
            raise SettingError(name, f"principal point {label}={value:g} lies far outside the {width}x{height} image")
    return K


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
    """K (3x3 float64) and where its focal length came from: "flags", "fov", "exif" or "default" (then
    with the reason EXIF was not used, e.g. "default (no EXIF focal length)").

    Precedence: explicit fx / fy (one alone sets both) or `fov` (degrees along the longer image side,
    which is the sensor's long side whichever way the phone was held), else EXIF, else DEFAULT_FOV_DEG.
    cx, cy default to the image centre and, when given, apply whatever the focal length's source
    ("exif+flags", "default+flags (...)" then). Impossible values raise `InputError` naming `name`.
    """
    import torch

    from handrecon.geometry.camera import intrinsics, intrinsics_from_fov

    if not (width > 0 and height > 0):
        raise InputError(name, f"image size must be positive, got {width}x{height}")
    try:
        check_camera_settings(fx, fy, cx, cy, fov)
    except SettingError as e:
        raise InputError(name, f"{e.name}: {e.reason}") from e

    why_not_exif = ""
    if fx is not None or fy is not None:
        fx = fx if fx is not None else fy
        fy = fy if fy is not None else fx
        K, source = intrinsics(fx, fy, width / 2, height / 2, dtype=torch.float64), "flags"
    elif fov is not None:
        K, source = intrinsics_from_fov(width, height, fov, dtype=torch.float64), "fov"
    else:
        K, why_not_exif = exif_intrinsics(exif, width, height)
        source = "exif"
        if K is None:
            K, source = intrinsics_from_fov(width, height, DEFAULT_FOV_DEG, dtype=torch.float64), "default"
    if cx is not None or cy is not None:
        K = K.clone()
        K[0, 2] = cx if cx is not None else K[0, 2]
        K[1, 2] = cy if cy is not None else K[1, 2]
        if source in ("exif", "default"):
            source += "+flags"
    try:
        K = check_intrinsics(K, width, height)
    except SettingError as e:
        raise InputError(name, e.reason) from e
    if why_not_exif:
        source += f" ({why_not_exif})"
    return K, source
