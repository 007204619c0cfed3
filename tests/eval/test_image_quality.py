"""PSNR and SSIM: identical images, hand-computed values, masks, agreement with a direct implementation."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from handrecon.eval import gaussian_window, psnr, ssim


def images(seed: int, shape=(2, 3, 24, 20)) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(*shape, generator=gen, dtype=torch.float64)


def reference_ssim(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Wang et al. (2004) with a full 2D 11x11 Gaussian (sigma 1.5), 'valid' windows, L = 1."""
    g = gaussian_window(11, 1.5, x.dtype)
    w = (g[:, None] * g[None, :]).expand(x.shape[1], 1, 11, 11)

    def filt(v: torch.Tensor) -> torch.Tensor:
        return F.conv2d(v, w, groups=x.shape[1])

    mx, my = filt(x), filt(y)
    vx, vy, cxy = filt(x * x) - mx**2, filt(y * y) - my**2, filt(x * y) - mx * my
    c1, c2 = 0.01**2, 0.03**2
    return (((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))).mean((1, 2, 3))


def test_identical_images_give_inf_psnr_and_unit_ssim():
    x = images(0)
    assert torch.isinf(psnr(x, x)).all()
    torch.testing.assert_close(ssim(x, x), torch.ones(2, dtype=torch.float64))


def test_psnr_hand_computed():
    gt = torch.zeros(1, 3, 8, 8, dtype=torch.float64)
    assert psnr(gt + 0.1, gt).item() == pytest.approx(20.0)  # MSE 0.01
    half = gt.clone()
    half[..., :4] = 0.1  # MSE 0.005
    assert psnr(half, gt).item() == pytest.approx(10 * math.log10(200))
    assert psnr(gt + 25.5, gt, data_range=255.0).item() == pytest.approx(20.0)


def test_masked_psnr_ignores_the_masked_out_region():
    gt = torch.zeros(1, 3, 8, 8, dtype=torch.float64)
    pred = gt + 0.1
    pred[..., 4:] = torch.rand(1, 3, 8, 4, dtype=torch.float64)  # garbage outside the mask
    pred[..., 7] = float("nan")
    mask = torch.zeros(1, 8, 8, dtype=torch.bool)
    mask[..., :4] = True
    assert psnr(pred, gt, mask).item() == pytest.approx(20.0)
    assert psnr(pred.nan_to_num(), gt).item() < 15.0
    assert math.isnan(psnr(pred, gt, torch.zeros_like(mask)).item())


def test_ssim_of_constant_images_hand_computed():
    # Constant images: zero variances, so SSIM = (2 a b + C1) / (a^2 + b^2 + C1) everywhere.
    a, b = 0.2, 0.6
    x = torch.full((1, 1, 16, 16), a, dtype=torch.float64)
    y = torch.full((1, 1, 16, 16), b, dtype=torch.float64)
    expected = (2 * a * b + 1e-4) / (a * a + b * b + 1e-4)
    assert ssim(x, y).item() == pytest.approx(expected, rel=1e-9)


def test_ssim_matches_a_direct_implementation_and_decreases_with_noise():
    x = images(1)
    gen = torch.Generator().manual_seed(2)
    noise = torch.randn(x.shape, generator=gen, dtype=torch.float64)
    y = (x + 0.05 * noise).clamp(0, 1)
    torch.testing.assert_close(ssim(x, y), reference_ssim(x, y))
    torch.testing.assert_close(ssim(x, y, torch.ones(2, 1, 24, 20)), ssim(x, y))
    z = (x + 0.2 * noise).clamp(0, 1)
    assert (ssim(x, z) < ssim(x, y)).all() and (ssim(x, y) < 1).all()


def test_masked_ssim_ignores_the_masked_out_region():
    x = images(3, (1, 3, 32, 32))
    y = (x + 0.05 * images(4, (1, 3, 32, 32))).clamp(0, 1)
    mask = torch.zeros(1, 1, 32, 32, dtype=torch.bool)
    mask[..., 4:20, 6:26] = True
    base = ssim(x, y, mask)
    x2, y2 = x.clone(), y.clone()
    x2[..., ~mask[0, 0]] = torch.rand(int((~mask).sum()) * 3, dtype=torch.float64).reshape(3, -1)
    y2[..., ~mask[0, 0]] = float("nan")  # e.g. pixels a renderer never wrote
    torch.testing.assert_close(ssim(x2, y2, mask), base)
    assert not torch.allclose(ssim(x2, x), ssim(x, x))


def test_gradients_are_finite_with_masks():
    x = images(5).requires_grad_(True)
    y = images(6)
    mask = torch.zeros(2, 24, 20, dtype=torch.bool)
    mask[:, 3:15, 2:12] = True
    (ssim(x, y, mask).sum() + psnr(x, y, mask).sum()).backward()
    assert torch.isfinite(x.grad).all()
    assert x.grad[..., 20:, :].abs().sum() == 0  # masked-out pixels receive no gradient
    assert x.grad.abs().sum() > 0


def test_small_or_mismatched_images_are_rejected():
    with pytest.raises(ValueError, match="at least 11"):
        ssim(torch.zeros(1, 1, 8, 8), torch.zeros(1, 1, 8, 8))
    with pytest.raises(ValueError, match="one shape"):
        psnr(torch.zeros(1, 3, 8, 8), torch.zeros(1, 1, 8, 8))
