"""sRGB encoding, for torch tensors and numpy arrays alike.

Albedos and shading live in linear light; images, backgrounds and mesh-file vertex colours are sRGB-encoded
(glTF vertex colours are linear, its textures sRGB). IEC 61966-2-1 transfer function.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import torch

Values = TypeVar("Values", torch.Tensor, np.ndarray)


def srgb_to_linear(c: Values) -> Values:
    """sRGB-encoded values in [0, 1] -> linear light."""
    if isinstance(c, torch.Tensor):
        return torch.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(c: Values) -> Values:
    """Linear light in [0, 1] -> sRGB-encoded values (clamped to [0, 1] first)."""
    if isinstance(c, torch.Tensor):
        c = c.clamp(0.0, 1.0)
        return torch.where(c <= 0.0031308, 12.92 * c, 1.055 * c.clamp_min(1e-8) ** (1 / 2.4) - 0.055)
    c = np.clip(c, 0.0, 1.0)
    return np.where(c <= 0.0031308, 12.92 * c, 1.055 * np.maximum(c, 1e-8) ** (1 / 2.4) - 0.055)
