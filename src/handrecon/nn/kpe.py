"""Intrinsics-aware positional encoding (KPE) of a hand crop (WildHands sec. 3.1 and its supplementary,
after Prakash et al.'s KPE for image crops).

A pixel (x, y) of the crop is located in the camera's field of view by its angles
theta_x = atan((x - p_x) / f_x), theta_y = atan((y - p_y) / f_y), computed with the crop's own intrinsics
(a crop is a scaled shift of the image, so its K gives the same angles as the full image's K). The angles
go through a sinusoidal encoding with K frequencies: sin(2^k theta), cos(2^k theta), k = 0..K-1 (the
NeRF-style encoding the paper cites; the base frequency is not printed, 2^k is taken here), 4K values
per pixel.
- sparse: the 4 corners and the centre of the crop, 5 * 4K values (80 for K = 4), broadcast over the
  feature map;
- dense: every pixel, (4K, H, W), resampled to the feature map;
- no intrinsics (paper sec. 4, Ego4D): the same encoding of the crop's corners and centre in image
  coordinates normalised about the image centre instead of angles. The full image's size is not carried
  with a crop, so the centre is the principal point and the half-width p_x (an image whose principal
  point is its centre).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

NUM_FREQUENCIES = 4


def sinusoidal_encoding(values: torch.Tensor, num_frequencies: int = NUM_FREQUENCIES) -> torch.Tensor:
    """(..., D) -> (..., D * 2 * num_frequencies): [sin(2^k v), cos(2^k v)] for k = 0..K-1, per value."""
    freqs = 2.0 ** torch.arange(num_frequencies, dtype=values.dtype, device=values.device)
    x = values[..., None] * freqs  # (..., D, K)
    return torch.cat([torch.sin(x), torch.cos(x)], -1).flatten(-2)


def crop_points(size: int, dtype: torch.dtype = torch.float32, device=None) -> torch.Tensor:
    """The crop's 4 corners and centre in pixel coordinates (5, 2): TL, TR, BL, BR, centre."""
    s = float(size)
    return torch.tensor([[0.0, 0.0], [s, 0.0], [0.0, s], [s, s], [s / 2, s / 2]], dtype=dtype, device=device)


def view_angles(points: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """Angles (theta_x, theta_y) in the camera's field of view of pixels `points` (B, N, 2) or (N, 2) under
    intrinsics K (B, 3, 3): (B, N, 2) radians."""
    K = K.to(points.dtype)
    pts = points if points.dim() == 3 else points.expand(K.shape[0], -1, -1)
    f = torch.stack([K[:, 0, 0], K[:, 1, 1]], -1)[:, None]
    p = torch.stack([K[:, 0, 2], K[:, 1, 2]], -1)[:, None]
    return torch.atan((pts - p) / f)


def centred_coordinates(points: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """The "no intrinsics" stand-in for angles: (x - p_x) / p_x, (y - p_y) / p_y (see the module docstring)."""
    K = K.to(points.dtype)
    pts = points if points.dim() == 3 else points.expand(K.shape[0], -1, -1)
    p = torch.stack([K[:, 0, 2], K[:, 1, 2]], -1)[:, None]
    return (pts - p) / p.abs().clamp_min(1.0)


def sparse_kpe(K: torch.Tensor, crop_size: int, num_frequencies: int = NUM_FREQUENCIES,
               intrinsics: bool = True) -> torch.Tensor:
    """(B, 5 * 4 * K): the encoding of the crop's 4 corners and centre."""
    pts = crop_points(crop_size, K.dtype, K.device)
    loc = view_angles(pts, K) if intrinsics else centred_coordinates(pts, K)
    return sinusoidal_encoding(loc, num_frequencies).flatten(1)


def dense_kpe(K: torch.Tensor, crop_size: int, out_hw: tuple[int, int] | None = None,
              num_frequencies: int = NUM_FREQUENCIES, intrinsics: bool = True) -> torch.Tensor:
    """(B, 4 * K, H, W): the encoding of every crop pixel centre, resampled (bilinear) to `out_hw`."""
    c = torch.arange(crop_size, dtype=K.dtype, device=K.device) + 0.5
    yy, xx = torch.meshgrid(c, c, indexing="ij")
    pts = torch.stack([xx, yy], -1).reshape(-1, 2)
    loc = view_angles(pts, K) if intrinsics else centred_coordinates(pts, K)
    enc = sinusoidal_encoding(loc, num_frequencies)  # (B, S*S, 4K)
    enc = enc.transpose(1, 2).reshape(K.shape[0], -1, crop_size, crop_size)
    if out_hw is not None and tuple(out_hw) != (crop_size, crop_size):
        enc = F.interpolate(enc, size=out_hw, mode="bilinear", align_corners=False)
    return enc
