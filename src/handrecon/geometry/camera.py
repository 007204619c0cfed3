"""Cameras in the OpenCV convention (x right, y down, z forward; pixels with origin at the top-left
corner of the top-left pixel, pixel centres at integer + 0.5 is NOT assumed: a point projects to
u = fx * x / z + cx exactly as OpenCV does).

Two models are used across handrecon: full perspective with intrinsics K (3x3), and weak perspective
(scale s, translation tx, ty) as in many regression networks: u = s * x + tx, v = s * y + ty.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

Z_EPS = 1e-6


def _batch_K(K: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    K = K.to(dtype=like.dtype, device=like.device)
    return K if K.dim() == 3 else K.expand(like.shape[0], 3, 3)


def project_points(points: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """Perspective projection of camera-frame points (B, N, 3) with K (B, 3, 3) or (3, 3) -> (B, N, 2).

    Depths are clamped to Z_EPS so that points behind the camera never divide by zero.
    """
    Kb = _batch_K(K, points)
    z = points[..., 2:3].clamp_min(Z_EPS)
    xy = points[..., :2] / z
    fx, fy = Kb[:, 0, 0, None], Kb[:, 1, 1, None]
    cx, cy = Kb[:, 0, 2, None], Kb[:, 1, 2, None]
    skew = Kb[:, 0, 1, None]
    u = fx * xy[..., 0] + skew * xy[..., 1] + cx
    v = fy * xy[..., 1] + cy
    return torch.stack([u, v], -1)


def unproject_points(uv: torch.Tensor, depth: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """Pixels (B, N, 2) and depths (B, N) -> camera-frame points (B, N, 3); inverse of `project_points`."""
    Kb = _batch_K(K, uv)
    fx, fy = Kb[:, 0, 0, None], Kb[:, 1, 1, None]
    cx, cy = Kb[:, 0, 2, None], Kb[:, 1, 2, None]
    skew = Kb[:, 0, 1, None]
    y = (uv[..., 1] - cy) / fy
    x = (uv[..., 0] - cx - skew * y) / fx
    return torch.stack([x * depth, y * depth, depth], -1)


def weak_perspective_project(points: torch.Tensor, scale: torch.Tensor, trans: torch.Tensor) -> torch.Tensor:
    """u = s * x + tx, v = s * y + ty for points (B, N, 3), scale (B,) or (B, 1), trans (B, 2)."""
    s = scale.reshape(-1, 1, 1)
    return points[..., :2] * s + trans[:, None, :]


def intrinsics_from_fov(width: int, height: int, fov_deg: float, dtype=torch.float32) -> torch.Tensor:
    """K for a camera whose field of view spans `fov_deg` along the larger image side, centred principal point."""
    if not (0.0 < fov_deg < 180.0):
        raise ValueError(f"field of view must be in (0, 180) degrees, got {fov_deg}")
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    f = 0.5 * max(width, height) / math.tan(math.radians(fov_deg) / 2)
    return intrinsics(f, f, width / 2, height / 2, dtype=dtype)


def intrinsics(fx: float, fy: float, cx: float, cy: float, dtype=torch.float32) -> torch.Tensor:
    """3x3 pinhole intrinsics."""
    if not (fx > 0 and fy > 0 and math.isfinite(fx) and math.isfinite(fy)):
        raise ValueError(f"focal lengths must be positive and finite, got fx={fx}, fy={fy}")
    if not (math.isfinite(cx) and math.isfinite(cy)):
        raise ValueError(f"principal point must be finite, got cx={cx}, cy={cy}")
    return torch.tensor([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]], dtype=dtype)


def fov_from_intrinsics(K: torch.Tensor, width: int, height: int) -> tuple[float, float]:
    """Horizontal and vertical field of view in degrees."""
    fx, fy = float(K[..., 0, 0]), float(K[..., 1, 1])
    return 2 * math.degrees(math.atan(width / (2 * fx))), 2 * math.degrees(math.atan(height / (2 * fy)))


@dataclass
class PerspectiveCamera:
    """Pinhole camera; points are expected in its (OpenCV) frame."""

    K: torch.Tensor  # (B, 3, 3) or (3, 3)
    width: int
    height: int

    def project(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, N, 3) -> pixels (B, N, 2) and depth z (B, N)."""
        return project_points(points, self.K), points[..., 2]


@dataclass
class WeakPerspectiveCamera:
    """Orthographic projection with isotropic scale (pixels per metre) and a pixel translation."""

    scale: torch.Tensor  # (B,)
    trans: torch.Tensor  # (B, 2)
    width: int
    height: int

    def project(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, N, 3) -> pixels (B, N, 2) and depth z (B, N) (z kept for the z-buffer)."""
        return weak_perspective_project(points, self.scale, self.trans), points[..., 2]
