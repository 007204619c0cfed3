"""Overlays for inspecting results: shaded mesh over the photo, finger-coloured skeleton, per-joint
uncertainty ellipses, a side view of the mesh, and PNG writing.

Images here are uint8 numpy arrays (H, W, 3), as read by Pillow; inputs may also be PIL images or float
tensors/arrays in [0, 1] (H, W, 3) or (3, H, W). Colours follow `hand.keypoints.FINGER_COLORS`.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from handrecon.geometry.mesh import vertex_normals
from handrecon.geometry.rotations import axis_angle_to_matrix
from handrecon.hand.keypoints import FINGER_COLORS, OPENPOSE_BONES, OPENPOSE_FINGER_OF, WRIST_COLOR, convert_keypoints
from handrecon.render.painted import painted_pixels
from handrecon.render.painted import vertex_normals as vertex_normals_np
from handrecon.render.rasterize import Camera, Fragments, rasterize
from handrecon.render.renderer import DEFAULT_ALBEDO, render_mesh
from handrecon.render.shading import lambert, make_lighting, split_lighting

RGB = tuple[int, int, int]
# `make_lighting(ambient, directional=..., direction=...)` of the overlays: soft light from the upper left
_OVERLAY_LIGHT = (0.45, (1.0, 1.0, 1.0), 0.65, (1.0, 1.0, 1.0), (0.3, -0.4, -1.0))


def as_uint8_image(image: np.ndarray | torch.Tensor | Image.Image) -> np.ndarray:
    """Any supported image -> (H, W, 3) uint8 array (a copy)."""
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("RGB")).copy()
    arr = image.detach().cpu().numpy() if isinstance(image, torch.Tensor) else np.asarray(image)
    if arr.ndim == 3 and arr.shape[0] in (1, 3) and arr.shape[-1] not in (1, 3):
        arr = arr.transpose(1, 2, 0)
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3 or arr.shape[-1] not in (1, 3):
        raise ValueError(f"expected an (H, W, 3) or (3, H, W) image, got shape {arr.shape}")
    if arr.shape[-1] == 1:
        arr = np.repeat(arr, 3, -1)
    if arr.dtype != np.uint8:
        arr = np.clip(np.rint(arr.astype(np.float64) * 255.0), 0, 255).astype(np.uint8)
    return arr.copy()


def _single(vertices: torch.Tensor) -> torch.Tensor:
    v = vertices if vertices.dim() == 3 else vertices[None]
    if v.shape[0] != 1 or v.shape[-1] != 3:
        raise ValueError(f"overlays draw one mesh: expected (V, 3) or (1, V, 3), got {tuple(vertices.shape)}")
    return v


def render_mesh_image(
    vertices: torch.Tensor,
    faces: torch.Tensor,
    camera: Camera,
    color: Sequence[float] = DEFAULT_ALBEDO,
    lighting: torch.Tensor | None = None,
    vertex_colors: torch.Tensor | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Shaded render of one mesh -> (H, W, 3) uint8 colour and (H, W) bool mask."""
    rgb, mask, _ = _render(vertices, faces, camera, color, lighting, vertex_colors, crop=False)
    return rgb, mask


def _render(
    vertices: torch.Tensor,
    faces: torch.Tensor,
    camera: Camera,
    color: Sequence[float],
    lighting: torch.Tensor | None,
    vertex_colors: torch.Tensor | None,
    crop: bool,
) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """Colour (h, w, 3) uint8 and mask (h, w) of the render, and the image pixel (x, y) of its corner."""
    v = _single(vertices)
    with torch.no_grad():
        if lighting is None:
            lighting = make_lighting(*_OVERLAY_LIGHT, dtype=v.dtype)
        colors = vertex_colors
        if colors is None:
            colors = torch.tensor(color, dtype=v.dtype, device=v.device).expand(v.shape[1], 3)
        out = render_mesh(v, faces, camera, vertex_colors=colors, lighting=lighting, shading="pixel", crop=crop)
    rgb = (out.image[0].clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()
    return rgb, out.mask[0].cpu().numpy(), out.fragments.origin


def overlay_mesh(
    image: np.ndarray | torch.Tensor | Image.Image,
    vertices: torch.Tensor,
    faces: torch.Tensor,
    camera: Camera,
    alpha: float = 0.75,
    color: Sequence[float] = DEFAULT_ALBEDO,
    lighting: torch.Tensor | None = None,
) -> np.ndarray:
    """Composite the shaded mesh over the photo with opacity `alpha`; pixels off the mesh are left untouched.

    Only the pixels the mesh covers are shaded and blended, without image-sized or rectangle-sized colour
    buffers: a video frame's overlay must fit in the writer thread's frame budget (33 ms at 30 frames/s)."""
    photo = _photo_of(image, camera)
    v = _single(vertices)
    with torch.no_grad():
        frags = rasterize(v, faces.to(device=v.device, dtype=torch.long), camera, crop=True)
    covered = _covered_pixels(frags, 0, camera)
    return _composite(photo, *_shade_covered_pixels(v, faces, color, lighting, covered), alpha)


def _photo_of(image: np.ndarray | torch.Tensor | Image.Image, camera: Camera) -> np.ndarray:
    """The photo as (H, W, 3) uint8, checked to be the camera's size."""
    photo = as_uint8_image(image)
    if photo.shape[:2] != (camera.height, camera.width):
        raise ValueError(f"image is {photo.shape[1]}x{photo.shape[0]} but the camera is {camera.width}x{camera.height}")
    return photo


def _composite(photo: np.ndarray, pixel: torch.Tensor, rgb: torch.Tensor, alpha: float) -> np.ndarray:
    """Blend colours (n, 3) uint8 into the flat pixels `pixel` of `photo` (changed in place, returned)."""
    flat = torch.from_numpy(photo).view(-1, 3)
    under = flat.index_select(0, pixel)
    blend = rgb.double().mul_(alpha).add_(under.double().mul_(1.0 - alpha))  # n pixels only: as cheap
    flat.index_copy_(0, pixel, blend.round_().clamp_(0, 255).to(torch.uint8))
    return photo


def _covered_pixels(frags: Fragments, batch: int, camera: Camera) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Face (n,), barycentrics (n, 3) and flat camera-image index (n,) of the pixels mesh `batch` of a
    cropped rasterization covers."""
    _, h, w = frags.shape
    start, stop = torch.searchsorted(frags.fg_pixel, torch.tensor([batch * h * w, (batch + 1) * h * w])).tolist()
    local = frags.fg_pixel[start:stop] - batch * h * w
    ox, oy = frags.origin
    line = torch.div(local, w, rounding_mode="floor")
    pixel = (line + oy) * camera.width + (local - line * w + ox)
    return frags.fg_face[start:stop], frags.fg_bary[start:stop], pixel


def _shade_covered_pixels(
    vertices: torch.Tensor,
    faces: torch.Tensor,
    color: Sequence[float],
    lighting: torch.Tensor | None,
    covered: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    normals: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Flat image index (n,) and uint8 colour (n, 3) of the pixels the mesh covers (`_covered_pixels`), from
    its vertex normals (V, 3) when they are given.

    `render_mesh`'s per-pixel shading (interpolated vertex normal, Lambert) of a constant colour, computed
    on the covered pixels only: the Lambert factor is one number per pixel, so the colour is an affine
    function of it. Equal to `render_mesh_image` up to float rounding (at most one grey level, rarely)."""
    v = _single(vertices)
    with torch.no_grad():
        faces = faces.to(device=v.device, dtype=torch.long)
        if lighting is None:
            lighting = make_lighting(*_OVERLAY_LIGHT, dtype=v.dtype)
        ambient, directional, direction = split_lighting(lighting.to(dtype=v.dtype, device=v.device))
        face, bary, pixel = covered
        normals = vertex_normals(v, faces)[0] if normals is None else normals
        corner_normals = normals[faces]  # (F, 3 corners, 3)
        rows = corner_normals.index_select(0, face)
        normal = torch.bmm(bary[:, None, :].to(v.dtype), rows)[:, 0]  # interpolated, not unit
        cos = (normal @ direction[0]).div_(normal.norm(dim=-1).clamp_min_(1e-12)).clamp_min_(0.0)
        albedo = torch.tensor(color, dtype=v.dtype, device=v.device)
        shaded = torch.addcmul((albedo * ambient[0])[None], cos[:, None], (albedo * directional[0])[None])
        rgb = shaded.clamp_(0, 1).mul_(255).round_().to(torch.uint8)
    return pixel.cpu(), rgb.cpu()


def paint_mesh_over(
    photo: np.ndarray,
    vertices: np.ndarray,
    faces: np.ndarray,
    K: np.ndarray,
    alpha: float = 0.75,
    color: Sequence[float] = DEFAULT_ALBEDO,
) -> np.ndarray:
    """`overlay_mesh` for video frames, drawn into `photo` ((H, W, 3) uint8, changed in place and returned):
    the same shading and blend over the pixels `render.painted` finds (the painter's algorithm, about 0.4
    of the exact rasterization's time; its module doc says what differs). Vertices (V, 3) in the camera
    frame, K (3, 3)."""
    if photo.dtype != np.uint8 or photo.ndim != 3 or photo.shape[2] != 3 or not photo.flags.c_contiguous:
        raise ValueError(f"expected a C-contiguous (H, W, 3) uint8 image, got {photo.shape} {photo.dtype}")
    v = np.asarray(vertices, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64)
    H, W = photo.shape[:2]
    pixel, normal, _ = painted_pixels(v, faces, K, W, H, vertex_normals_np(v, faces))  # normals: not unit
    if pixel.size == 0:
        return photo
    ambient, directional, direction = _overlay_light()
    cos = normal @ direction  # 0 inside an opening (normal 0): the inside is lit by the ambient light only
    cos /= np.maximum(np.sqrt(np.einsum("nc,nc->n", normal, normal)), 1e-12)
    np.maximum(cos, 0.0, out=cos)
    albedo = np.asarray(color, dtype=np.float64)
    base, slope = albedo * ambient * 255.0, albedo * directional * 255.0
    flat = photo.reshape(-1)
    for c in range(3):  # per channel: 1-D gathers and scatters
        index = pixel * 3 + c
        shaded = np.rint(np.minimum(base[c] + slope[c] * cos, 255.0))
        flat[index] = np.rint(shaded * alpha + flat.take(index) * (1.0 - alpha)).astype(np.uint8)
    return photo


_LIGHT: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []


def _overlay_light() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The overlay light's ambient and directional colours and unit direction (float64), made once."""
    if not _LIGHT:
        lighting = split_lighting(make_lighting(*_OVERLAY_LIGHT, dtype=torch.float64))
        _LIGHT.append(tuple(t[0].double().numpy() for t in lighting))
    return _LIGHT[0]


def side_view(
    vertices: torch.Tensor,
    faces: torch.Tensor,
    camera: Camera,
    angle_deg: float = 90.0,
    axis: Sequence[float] = (0.0, 1.0, 0.0),
    background: RGB = (255, 255, 255),
    color: Sequence[float] = DEFAULT_ALBEDO,
) -> np.ndarray:
    """The mesh rotated by `angle_deg` about `axis` (camera frame; default the vertical image axis) through
    its centroid, rendered with the same camera on a plain background."""
    rotated = rotate_about_centroid(_single(vertices), angle_deg, axis)
    with torch.no_grad():
        frags = rasterize(rotated, faces.to(device=rotated.device, dtype=torch.long), camera, crop=True)
    return _side_image(rotated, faces, camera, color, _covered_pixels(frags, 0, camera), background)


def overlay_and_side_view(
    image: np.ndarray | torch.Tensor | Image.Image,
    vertices: torch.Tensor,
    faces: torch.Tensor,
    camera: Camera,
    alpha: float = 0.75,
    color: Sequence[float] = DEFAULT_ALBEDO,
    angle_deg: float = 90.0,
    axis: Sequence[float] = (0.0, 1.0, 0.0),
    background: RGB = (255, 255, 255),
) -> tuple[np.ndarray, np.ndarray]:
    """`overlay_mesh(image, ...)` and `side_view(...)` of one mesh and camera, the same pixels: the mesh and
    its turned copy are rasterized, and their vertex normals computed, in one batch (one call's fixed costs
    instead of two; a photo's outputs about 3 ms less CPU)."""
    photo = _photo_of(image, camera)
    v = _single(vertices)
    rotated = rotate_about_centroid(v, angle_deg, axis)
    with torch.no_grad():
        both = torch.cat([v, rotated])
        faces = faces.to(device=v.device, dtype=torch.long)
        frags = rasterize(both, faces, camera, crop=True)
        normals = vertex_normals(both, faces)  # per mesh of the batch as alone, bit for bit
    front, turned = _covered_pixels(frags, 0, camera), _covered_pixels(frags, 1, camera)
    overlay = _composite(photo, *_shade_covered_pixels(v, faces, color, None, front, normals[0]), alpha)
    return overlay, _side_image(rotated, faces, camera, color, turned, background, normals[1])


def _side_image(
    rotated: torch.Tensor,
    faces: torch.Tensor,
    camera: Camera,
    color: Sequence[float],
    covered: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    background: RGB,
    normals: torch.Tensor | None = None,
) -> np.ndarray:
    pixel, rgb = _render_covered_pixels(rotated, faces, color, covered, normals)
    out = np.empty((camera.height, camera.width, 3), dtype=np.uint8)
    out[:] = np.asarray(background, dtype=np.uint8)
    out.reshape(-1, 3)[pixel.numpy()] = rgb.numpy()
    return out


def _render_covered_pixels(
    vertices: torch.Tensor,
    faces: torch.Tensor,
    color: Sequence[float],
    covered: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    normals: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Flat image index (n,) and uint8 colour (n, 3) of the pixels the mesh covers, as `render_mesh_image`
    colours them under the overlay light, bit for bit: the same operations of `render_mesh`'s per-pixel
    shading (interpolated colour and normal, normalize, `lambert`) in the same order, on the covered pixels
    only instead of the rectangle's image-sized buffers (a side view about 8 % less CPU)."""
    v = _single(vertices)
    with torch.no_grad():
        faces = faces.to(device=v.device, dtype=torch.long)
        face, bary, pixel = covered
        bary = bary.to(v.dtype)[:, :, None]

        def interpolated(corner_values: torch.Tensor) -> torch.Tensor:  # (F, 3, C) -> (n, C)
            return (corner_values.index_select(0, face) * bary).sum(1)

        # a constant colour's corner values need no gather: bary * colour is the same products, summed alike
        albedo = (bary * torch.tensor(color, dtype=v.dtype, device=v.device)).sum(1)
        normals = vertex_normals(v, faces)[0] if normals is None else normals
        normal = torch.nn.functional.normalize(interpolated(normals[faces]), dim=-1, eps=1e-12)
        shaded = lambert(normal[None], albedo[None], make_lighting(*_OVERLAY_LIGHT, dtype=v.dtype))[0]
        rgb = (shaded.clamp(0, 1) * 255).round().to(torch.uint8)
    return pixel.cpu(), rgb.cpu()


def rotate_about_centroid(vertices: torch.Tensor, angle_deg: float, axis: Sequence[float]) -> torch.Tensor:
    """Rotate (B, V, 3) vertices about `axis` through each mesh's vertex centroid."""
    a = torch.tensor(axis, dtype=vertices.dtype, device=vertices.device)
    a = a / a.norm().clamp_min(1e-12) * np.deg2rad(angle_deg)
    R = axis_angle_to_matrix(a)
    c = vertices.mean(-2, keepdim=True)
    return (vertices - c) @ R.T + c


def _keypoints_np(keypoints: torch.Tensor | np.ndarray, order: str) -> np.ndarray:
    kp = torch.as_tensor(np.asarray(keypoints.detach().cpu() if isinstance(keypoints, torch.Tensor) else keypoints))
    if kp.shape != (21, 2):
        raise ValueError(f"expected 21 keypoints (21, 2) in pixels, got {tuple(kp.shape)}")
    return convert_keypoints(kp.double(), order, "openpose").numpy()


def joint_color(joint: int) -> RGB:
    """Colour of an OpenPose joint: its finger's colour, or the wrist colour."""
    finger = OPENPOSE_FINGER_OF[joint]
    return WRIST_COLOR if finger < 0 else FINGER_COLORS[finger]


def draw_skeleton(
    image: np.ndarray | torch.Tensor | Image.Image,
    keypoints: torch.Tensor | np.ndarray,
    order: str = "openpose",
    confidence: torch.Tensor | np.ndarray | None = None,
    min_confidence: float = 0.0,
    line_width: int = 3,
    joint_radius: int = 4,
) -> np.ndarray:
    """Draw the 21-joint skeleton (pixels, (21, 2)) with bones coloured by finger.

    Joints (and bones ending at them) with confidence below `min_confidence` are skipped.
    """
    kp = _keypoints_np(keypoints, order)
    conf = np.ones(21) if confidence is None else np.asarray(confidence, dtype=np.float64).reshape(21)
    if confidence is not None:
        conf = convert_keypoints(torch.as_tensor(conf)[:, None], order, "openpose")[:, 0].numpy()
    shown = (conf >= min_confidence) & np.isfinite(kp).all(1)
    canvas = Image.fromarray(as_uint8_image(image))
    _skeleton_on(ImageDraw.Draw(canvas), kp, shown, line_width, joint_radius)
    return np.asarray(canvas).copy()


def _skeleton_on(draw: ImageDraw.ImageDraw, kp: np.ndarray, shown: np.ndarray, line_width: int, radius: int) -> None:
    """Bones then joints of OpenPose keypoints (21, 2) whose `shown` is true, drawn with `draw`."""
    for parent, child in OPENPOSE_BONES:
        if shown[parent] and shown[child]:
            draw.line([tuple(kp[parent]), tuple(kp[child])], fill=joint_color(child), width=line_width)
    for j in range(21):
        if shown[j]:
            x, y = kp[j]
            draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=joint_color(j), outline=(255, 255, 255))


def paint_skeleton(
    image: np.ndarray, keypoints: np.ndarray, order: str = "openpose", line_width: int = 3, joint_radius: int = 4
) -> np.ndarray:
    """`draw_skeleton` for video frames, drawn with OpenCV into `image` ((H, W, 3) uint8, changed in place
    and returned): the same bones, joints and colours without the two image copies through Pillow (a few
    ms per 640x480 frame); lines and discs differ from Pillow's by a pixel at their ends and rims."""
    import cv2

    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3 or not image.flags.c_contiguous:
        raise ValueError(f"expected a C-contiguous (H, W, 3) uint8 image, got {image.shape} {image.dtype}")
    kp = _keypoints_np(keypoints, order)
    shown = np.isfinite(kp).all(1) & (np.abs(kp) < 1 << 20).all(1)
    scale = 1 << 4  # OpenCV's fixed point: 1/16 pixel
    # Pillow's pixel (x, y) has its centre at (x, y) in the coordinates it is given, as OpenCV's
    p = np.rint(np.where(shown[:, None], kp, 0.0) * scale).astype(np.int64)
    thickness = max(1, line_width - 1)  # OpenCV's lines of thickness w - 1 cover about Pillow's of width w
    for parent, child in OPENPOSE_BONES:
        if shown[parent] and shown[child]:
            a, b = (int(p[parent, 0]), int(p[parent, 1])), (int(p[child, 0]), int(p[child, 1]))
            cv2.line(image, a, b, joint_color(child), thickness, cv2.LINE_8, 4)
    r = max(0, joint_radius) * scale
    for j in np.flatnonzero(shown).tolist():
        c = (int(p[j, 0]), int(p[j, 1]))
        cv2.circle(image, c, r, joint_color(j), -1, cv2.LINE_8, 4)
        cv2.circle(image, c, r, (255, 255, 255), 1, cv2.LINE_8, 4)
    return image


def draw_uncertainty(
    image: np.ndarray | torch.Tensor | Image.Image,
    keypoints: torch.Tensor | np.ndarray,
    sigma: torch.Tensor | np.ndarray,
    order: str = "openpose",
    scale: float = 1.0,
    line_width: int = 2,
) -> np.ndarray:
    """Per-joint uncertainty ellipses: width = scale * sigma_x and height = scale * sigma_y (pixels), centred
    on each joint and coloured by finger. scale=2 draws the one-standard-deviation contour."""
    kp = _keypoints_np(keypoints, order)
    sd = _keypoints_np(sigma, order)
    if (sd < 0).any():
        raise ValueError("sigma must be non-negative")
    canvas = Image.fromarray(as_uint8_image(image))
    _ellipses_on(ImageDraw.Draw(canvas), kp, sd * scale, line_width)
    return np.asarray(canvas).copy()


def _ellipses_on(draw: ImageDraw.ImageDraw, kp: np.ndarray, size: np.ndarray, line_width: int) -> None:
    """An ellipse of width x height `size` (21, 2) around each OpenPose keypoint (21, 2), drawn with `draw`."""
    for j in range(21):
        (x, y), (sx, sy) = kp[j], size[j]
        if not (np.isfinite([x, y, sx, sy]).all()):
            continue
        draw.ellipse([x - sx / 2, y - sy / 2, x + sx / 2, y + sy / 2], outline=joint_color(j), width=line_width)


def draw_hands_2d(
    image: np.ndarray,
    hands: Sequence[tuple[np.ndarray, np.ndarray | None, int, int]],
    order: str = "openpose",
    ellipse_width: int = 2,
) -> np.ndarray:
    """For each hand (keypoints (21, 2), sigma (21, 2) or None, line width, joint radius) in turn, what
    `draw_skeleton` and then `draw_uncertainty` (scale 1) draw: the same pixels, on one canvas for all of
    them instead of an image copy in and out of Pillow per drawing. `image` is (H, W, 3) uint8; a new
    array is returned."""
    canvas = Image.fromarray(as_uint8_image(image))
    draw = ImageDraw.Draw(canvas)
    for keypoints, sigma, line_width, joint_radius in hands:
        kp = _keypoints_np(keypoints, order)
        _skeleton_on(draw, kp, np.isfinite(kp).all(1), line_width, joint_radius)
        if sigma is not None:
            sd = _keypoints_np(sigma, order)
            if (sd < 0).any():
                raise ValueError("sigma must be non-negative")
            _ellipses_on(draw, kp, sd, ellipse_width)
    return np.asarray(canvas).copy()


def hstack_images(images: Sequence[np.ndarray], gap: int = 0, fill: RGB = (255, 255, 255)) -> np.ndarray:
    """Place uint8 images side by side (top-aligned), e.g. [overlay, skeleton, side view]."""
    H = max(im.shape[0] for im in images)
    W = sum(im.shape[1] for im in images) + gap * (len(images) - 1)
    out = np.empty((H, W, 3), dtype=np.uint8)
    out[:] = np.asarray(fill, dtype=np.uint8)
    x = 0
    for im in images:
        out[: im.shape[0], x : x + im.shape[1]] = as_uint8_image(im)
        x += im.shape[1] + gap
    return out


def save_png(image: np.ndarray | torch.Tensor | Image.Image, path: str | os.PathLike) -> Path:
    """Write a PNG atomically (temporary file + rename), so that a failure never leaves a partial file."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"{path}: expected a .png file name")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"{path}: the folder {path.parent} does not exist")
    arr = as_uint8_image(image)
    fd, tmp = tempfile.mkstemp(suffix=".png", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            Image.fromarray(arr).save(fh, format="PNG")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
