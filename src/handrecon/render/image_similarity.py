"""Structural similarity (SSIM, Wang et al. 2004) of two images, optionally over a mask.

Both a metric (`handrecon.eval`) and a photometric loss (`handrecon.priors.self_supervised`, S2HAND) use it,
so it lives below both. Images are (B, C, H, W) with values in [0, data_range] (default 1). A mask (B, H, W),
(B, 1, H, W) or (B, C, H, W) (bool or 0/1) restricts the comparison to the hand: masked-out pixels never
influence the result, which matters because a rendered hand is compared with a photo only where the hand is.
"""

from __future__ import annotations

import math

import torch

from handrecon.render.filters import gaussian_window, separable_filter_valid


def check_image_pair(pred: torch.Tensor, gt: torch.Tensor) -> None:
    if pred.shape != gt.shape or pred.dim() != 4:
        raise ValueError(
            f"expected two images (B, C, H, W) of one shape, got {tuple(pred.shape)} and {tuple(gt.shape)}"
        )


def expand_image_mask(mask: torch.Tensor | None, img: torch.Tensor) -> torch.Tensor:
    """Mask broadcast to the image's (B, C, H, W) in its dtype; all ones when None."""
    if mask is None:
        return torch.ones_like(img)
    if mask.dim() == 3:
        mask = mask[:, None]
    if mask.dim() != 4 or mask.shape[0] != img.shape[0] or mask.shape[-2:] != img.shape[-2:]:
        raise ValueError(f"mask must be (B, H, W), (B, 1, H, W) or (B, C, H, W) for {tuple(img.shape)}, "
                         f"got {tuple(mask.shape)}")  # fmt: skip
    return mask.to(dtype=img.dtype, device=img.device).expand_as(img)


def masked_values(values: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """values * m, with masked-out entries exactly 0 even where they are NaN or inf."""
    return torch.where(m > 0, values, torch.zeros_like(values)) * m


def ssim_map(
    pred: torch.Tensor,
    gt: torch.Tensor,
    mask: torch.Tensor | None = None,
    window_size: int = 11,
    sigma: float = 1.5,
    data_range: float = 1.0,
    k1: float = 0.01,
    k2: float = 0.03,
) -> tuple[torch.Tensor, torch.Tensor]:
    """SSIM map (B, C, H - w + 1, W - w + 1) and the mask at the window centres (same shape).

    Wang et al. (2004): Gaussian-weighted local means, variances and covariance ('valid' windows, as
    their reference code), C1 = (k1 L)^2, C2 = (k2 L)^2. With a mask the local statistics are weighted
    by window * mask and renormalised, so that masked-out pixels never enter; without a mask (or with an
    all-ones mask) this is exactly the standard SSIM.
    """
    check_image_pair(pred, gt)
    if min(pred.shape[-2:]) < window_size:
        raise ValueError(f"images must be at least {window_size} pixels wide and high, got {tuple(pred.shape[-2:])}")
    m = expand_image_mask(mask, pred)
    g = gaussian_window(window_size, sigma, pred.dtype, pred.device)
    norm = 1.0 / separable_filter_valid(m, g).clamp_min(torch.finfo(pred.dtype).tiny)

    def local_mean(v: torch.Tensor) -> torch.Tensor:
        return separable_filter_valid(masked_values(v, m), g) * norm

    mu_x, mu_y = local_mean(pred), local_mean(gt)
    var_x = local_mean(pred * pred) - mu_x * mu_x
    var_y = local_mean(gt * gt) - mu_y * mu_y
    cov = local_mean(pred * gt) - mu_x * mu_y
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    s = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x * mu_x + mu_y * mu_y + c1) * (var_x + var_y + c2))
    r = (window_size - 1) // 2
    centre = m[..., r : r + s.shape[-2], r : r + s.shape[-1]]
    return s, centre


def ssim(
    pred: torch.Tensor,
    gt: torch.Tensor,
    mask: torch.Tensor | None = None,
    window_size: int = 11,
    sigma: float = 1.5,
    data_range: float = 1.0,
) -> torch.Tensor:
    """Structural similarity (B,), the mean of the SSIM map over channels and over the windows centred on
    masked-in pixels (Gaussian window 11, sigma 1.5, Wang et al. 2004). Identical images give 1; pixels
    closer than window_size // 2 to the border are not window centres, as in the reference code."""
    s, centre = ssim_map(pred, gt, mask, window_size, sigma, data_range)
    count = centre.sum((1, 2, 3))
    total = masked_values(s, centre).sum((1, 2, 3))
    return torch.where(count > 0, total / count.clamp_min(torch.finfo(s.dtype).tiny), math.nan)
