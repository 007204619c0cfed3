"""Image similarity for rendered textures and appearance: PSNR and SSIM, optionally over a mask.

Images are (B, C, H, W) with values in [0, data_range] (default 1). A mask (B, H, W), (B, 1, H, W) or
(B, C, H, W) (bool or 0/1) restricts the comparison to the hand: masked-out pixels never influence the
result, which matters because a rendered hand is compared with a photo only where the hand is. SSIM itself
lives in `handrecon.render.image_similarity`, below the photometric losses that also use it.
"""

from __future__ import annotations

import torch

from handrecon.render.filters import gaussian_window
from handrecon.render.image_similarity import check_image_pair, expand_image_mask, masked_values, ssim, ssim_map

__all__ = ["gaussian_window", "psnr", "ssim", "ssim_map"]


def psnr(
    pred: torch.Tensor, gt: torch.Tensor, mask: torch.Tensor | None = None, data_range: float = 1.0
) -> torch.Tensor:
    """Peak signal-to-noise ratio (B,) in dB: 10 log10(data_range^2 / MSE), the MSE over all channels of the
    masked pixels. Identical images give +inf; an empty mask gives NaN."""
    check_image_pair(pred, gt)
    m = expand_image_mask(mask, pred)
    count = m.sum((1, 2, 3))
    mse = masked_values((pred - gt).pow(2), m).sum((1, 2, 3)) / count.clamp_min(torch.finfo(pred.dtype).tiny)
    out = 10.0 * torch.log10(data_range**2 / mse)
    return torch.where(count > 0, out, torch.nan)
