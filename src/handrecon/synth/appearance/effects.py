"""Camera and compression effects applied to a composited image: white balance and exposure errors,
vignetting, defocus and motion blur, sensor noise and JPEG artefacts.

Parameters are drawn per sample (`random_effects`) and stored with it, so that the detector simulation can
degrade its keypoints with the same blur and noise the image shows.
"""

from __future__ import annotations

import io
import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
from PIL import Image

from handrecon.render.filters import filter_taps, gaussian_blur


@dataclass(frozen=True)
class Effects:
    """Per-sample image degradations (all zero / one means none)."""

    gains: tuple[float, float, float] = (1.0, 1.0, 1.0)  # white balance error, multiplies linear light
    exposure: float = 1.0
    vignette: float = 0.0  # darkening at the corners, fraction
    defocus_px: float = 0.0  # Gaussian sigma in pixels
    motion_px: float = 0.0  # length of a linear motion-blur streak in pixels
    motion_angle: float = 0.0  # radians
    noise: float = 0.0  # standard deviation of additive sensor noise, in [0, 1] units
    jpeg_quality: int = 0  # 0 = no JPEG round trip

    def as_dict(self) -> dict:
        return asdict(self)

    def blur_px(self) -> float:
        """A single figure for how blurred the image is (pixels), used by the detector simulation."""
        return math.hypot(self.defocus_px, self.motion_px / 3.0)


def random_effects(rng: np.random.Generator) -> Effects:
    """Effects of a typical consumer camera: mild most of the time, occasionally strong."""
    gains = tuple(float(g) for g in np.exp(rng.normal(0, 0.06, 3)))
    return Effects(
        gains=gains,  # type: ignore[arg-type]
        exposure=float(np.exp(rng.normal(0, 0.18))),
        vignette=float(rng.uniform(0, 0.35)) if rng.random() < 0.5 else 0.0,
        defocus_px=float(rng.uniform(0.3, 1.6)) if rng.random() < 0.3 else 0.0,
        motion_px=float(rng.uniform(2, 9)) if rng.random() < 0.15 else 0.0,
        motion_angle=float(rng.uniform(0, math.pi)),
        noise=float(rng.uniform(0.003, 0.03)) if rng.random() < 0.7 else 0.0,
        jpeg_quality=int(rng.integers(35, 96)) if rng.random() < 0.7 else 0,
    )


def motion_kernel(length: float, angle: float) -> torch.Tensor:
    """Normalised line kernel (k, k) of a straight streak of `length` pixels at `angle`."""
    r = max(1, int(math.ceil(length / 2)))
    y, x = torch.meshgrid(torch.arange(-r, r + 1.0), torch.arange(-r, r + 1.0), indexing="ij")
    d = torch.tensor([math.cos(angle), math.sin(angle)])
    along = x * d[0] + y * d[1]
    across = -x * d[1] + y * d[0]
    k = (1 - across.abs()).clamp_min(0) * (along.abs() <= length / 2)
    return k / k.sum()


def apply_effects(image: torch.Tensor, fx: Effects, rng: np.random.Generator) -> np.ndarray:
    """sRGB image (3, H, W) in [0, 1] -> degraded uint8 (H, W, 3).

    Gains act on linear light; on sRGB values they are applied as gain^(1/2.2), the power-law equivalent,
    which saves two conversions of the whole image.
    """
    H, W = image.shape[1:]
    gain = torch.tensor(fx.gains, dtype=image.dtype)[:, None, None] * fx.exposure
    if fx.vignette > 0:
        y, x = torch.meshgrid(torch.linspace(-1, 1, H), torch.linspace(-1, 1, W), indexing="ij")
        gain = gain * (1 - fx.vignette * ((x * x + y * y) / 2) ** 1.5)
    img = (image * gain ** (1 / 2.2)).clamp(0, 1)[None]
    if fx.defocus_px > 0:
        img = gaussian_blur(img, fx.defocus_px)
    if fx.motion_px > 0:
        k = motion_kernel(fx.motion_px, fx.motion_angle)
        r = k.shape[-1] // 2
        taps = [(int(i) - r, int(j) - r, float(k[i, j])) for i, j in torch.nonzero(k > 0).tolist()]
        img = filter_taps(img, taps)
    if fx.noise > 0:
        # Signal-dependent (shot) plus constant (read) noise, slightly correlated across channels.
        sigma = fx.noise * (0.5 + 0.5 * img.clamp(0, 1).sqrt())
        gen = torch.Generator().manual_seed(int(rng.integers(2**62)))
        n = torch.randn(1, 1, H, W, generator=gen) * 0.4 + torch.randn(1, 3, H, W, generator=gen) * 0.9
        img = img + sigma * n
    out = (img[0].clamp(0, 1) * 255 + 0.5).to(torch.uint8).permute(1, 2, 0).numpy()
    if fx.jpeg_quality > 0:
        out = jpeg_round_trip(out, fx.jpeg_quality)
    return out


def jpeg_round_trip(image: np.ndarray, quality: int) -> np.ndarray:
    """Encode and decode with JPEG at `quality` (blocking, ringing, chroma subsampling)."""
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=int(quality))
    buf.seek(0)
    with Image.open(buf) as im:
        return np.array(im.convert("RGB"))
