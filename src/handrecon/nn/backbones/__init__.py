"""Image backbones: `build_backbone(name, **opts)` gives a module mapping images to a feature map.

Every backbone takes (B, 3, H, W) RGB in [0, 1] after `normalize_input` (its own mean / std), returns a
feature map (B, out_channels, H / stride, W / stride), and names `out_channels`, `stride`, `input_mean`,
`input_std`. Names:
- `resnet18`, `resnet34`, `resnet50`
- `vit_s16`, `vit_b16`, `vit_h16` (also `vit_l16`); `variant="vitpose"` builds ViTPose's (no class token,
  patch padding 2, 256x192 input)
- `mediapipe_hand`: MediaPipe's hand-landmark network, weights read from the installed wheel
- `timm:<name>`: any timm model, where timm imports (optional)
`weights=PATH` loads a checkpoint the user gives (see `checkpoints`); nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from handrecon.nn.backbones.checkpoints import load_backbone_weights, read_state_dict
from handrecon.nn.backbones.resnet import ResNet
from handrecon.nn.backbones.vit import VisionTransformer

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _resnet(depth: int):
    def build(**opts) -> nn.Module:
        return ResNet(depth, **opts)

    return build


def _vit(size: str):
    def build(variant: str = "timm", **opts) -> nn.Module:
        if variant == "vitpose":
            opts = {"img_size": (256, 192), "class_token": False, "patch_padding": 2, **opts}
        elif variant != "timm":
            raise ValueError(f"ViT variant must be 'timm' or 'vitpose', got {variant!r}")
        return VisionTransformer(size, 16, **opts)

    return build


def _mediapipe_hand(**opts) -> nn.Module:
    from handrecon.nn.backbones.mediapipe_hand import MediaPipeHandLandmark

    return MediaPipeHandLandmark.from_wheel(**opts)


BACKBONES = {
    "resnet18": _resnet(18),
    "resnet34": _resnet(34),
    "resnet50": _resnet(50),
    "vit_s16": _vit("s"),
    "vit_b16": _vit("b"),
    "vit_l16": _vit("l"),
    "vit_h16": _vit("h"),
    "mediapipe_hand": _mediapipe_hand,
}


class TimmBackbone(nn.Module):
    """A timm model's `forward_features` as a feature map (token outputs reshaped to their grid)."""

    def __init__(self, name: str, pretrained: bool = False, **opts) -> None:
        super().__init__()
        try:
            import timm
        except ImportError as e:
            raise ImportError(f"backbone 'timm:{name}' needs the optional package timm ({e})") from None
        self.model = timm.create_model(name, pretrained=pretrained, num_classes=0, **opts)
        cfg = getattr(self.model, "pretrained_cfg", {}) or {}
        self.input_mean = tuple(cfg.get("mean", IMAGENET_MEAN))
        self.input_std = tuple(cfg.get("std", IMAGENET_STD))
        self.out_channels = int(self.model.num_features)
        self.stride = int(getattr(self.model, "patch_embed", None) and self.model.patch_embed.patch_size[0] or 32)
        self.num_prefix = int(getattr(self.model, "num_prefix_tokens", 0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.model.forward_features(x)
        if f.dim() == 3:  # tokens (B, N, C) -> (B, C, h, w)
            h, w = x.shape[-2] // self.stride, x.shape[-1] // self.stride
            f = f[:, self.num_prefix :].transpose(1, 2).reshape(f.shape[0], -1, h, w)
        return f


def available_backbones() -> list[str]:
    return sorted(BACKBONES) + ["timm:<name>"]


def build_backbone(name: str, weights: str | Path | None = None, **opts) -> nn.Module:
    """The backbone `name` (see the module docstring), with `weights` loaded from a file when given."""
    if name.startswith("timm:"):
        model = TimmBackbone(name[5:], **opts)
        if weights:
            model.model.load_state_dict(read_state_dict(weights), strict=False)
        return model
    key = name.lower().replace("-", "_")
    if key not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; available: {', '.join(available_backbones())}")
    model = BACKBONES[key](**opts)
    for attr, default in (("input_mean", IMAGENET_MEAN), ("input_std", IMAGENET_STD)):
        if not hasattr(model, attr):
            setattr(model, attr, default)
    if weights:
        load_backbone_weights(model, weights)
    return model


def normalize_input(backbone: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Images in [0, 1] standardised with the backbone's own mean and std."""
    mean = torch.as_tensor(backbone.input_mean, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
    std = torch.as_tensor(backbone.input_std, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
    return (images - mean) / std


__all__ = [
    "BACKBONES",
    "ResNet",
    "TimmBackbone",
    "VisionTransformer",
    "available_backbones",
    "build_backbone",
    "load_backbone_weights",
    "normalize_input",
]
