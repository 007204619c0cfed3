"""Gaussian and other small image filters on (B, C, H, W) tensors, the one home of image blurring.

Two ways to apply a kernel, for two needs:
- `filter_taps` / `gaussian_blur`: 'same'-size output, edges replicated, computed as sums of shifted copies;
  for the few-tap kernels of image synthesis these are several times faster on CPU than torch's grouped
  convolutions, which matters at tens of images per second;
- `separable_filter_valid`: 'valid' windows (output shrinks by k - 1), the form SSIM's local statistics
  take in Wang et al.'s reference code.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as Fnn


def gaussian_kernel(
    sigma: float, radius: int | None = None, dtype: torch.dtype = torch.float32, device=None
) -> torch.Tensor:
    """Normalised 1D Gaussian (2 radius + 1,) centred on the middle tap; radius ceil(2.5 sigma) (>= 1) unless given."""
    r = max(1, int(math.ceil(2.5 * sigma))) if radius is None else radius
    x = torch.arange(-r, r + 1, dtype=dtype, device=device)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def gaussian_window(size: int = 11, sigma: float = 1.5, dtype=torch.float32, device=None) -> torch.Tensor:
    """Normalised 1D Gaussian (size,) centred on the middle tap, the SSIM window of Wang et al. (2004)."""
    if size % 2 == 1:
        return gaussian_kernel(sigma, (size - 1) // 2, dtype, device)
    x = torch.arange(size, dtype=dtype, device=device) - (size - 1) / 2  # even sizes: centred between taps
    g = torch.exp(-0.5 * (x / sigma) ** 2)
    return g / g.sum()


def filter_taps(img: torch.Tensor, taps: list[tuple[int, int, float]]) -> torch.Tensor:
    """Correlate (B, C, H, W) with a sparse kernel given as (dy, dx, weight) taps, edges replicated.

    Shifted adds beat torch's grouped convolution on CPU for the small kernels used here by a wide margin.
    """
    r = max(max(abs(dy), abs(dx)) for dy, dx, _ in taps)
    H, W = img.shape[-2:]
    pad = Fnn.pad(img, (r, r, r, r), mode="replicate")
    out = torch.zeros_like(img)
    for dy, dx, w in taps:
        out.add_(pad[..., r + dy : r + dy + H, r + dx : r + dx + W], alpha=float(w))
    return out


def gaussian_blur(img: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (B, C, H, W), edges replicated, same size out."""
    if sigma <= 0.05:
        return img
    k = gaussian_kernel(sigma).tolist()
    r = len(k) // 2
    img = filter_taps(img, [(0, i - r, w) for i, w in enumerate(k)])
    return filter_taps(img, [(i - r, 0, w) for i, w in enumerate(k)])


def separable_filter_valid(x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Separable 'valid' filtering per channel with the 1D kernel g (k,).

    (B, C, H, W) -> (B, C, H - k + 1, W - k + 1)."""
    c = x.shape[1]
    k = g.numel()
    x = Fnn.conv2d(x, g.reshape(1, 1, 1, k).expand(c, 1, 1, k), groups=c)
    return Fnn.conv2d(x, g.reshape(1, 1, k, 1).expand(c, 1, k, 1), groups=c)
