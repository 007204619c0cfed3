"""Vision Transformer (Dosovitskiy et al., ICLR 2021) with timm's module names, sizes S/B/H at patch 16.

The names follow timm (patch_embed.proj, cls_token, pos_embed, blocks.N.{norm1,attn.qkv,attn.proj,norm2,
mlp.fc1,mlp.fc2}, norm), which ViTPose's backbone also uses (its final norm is `last_norm` and it has no
class token; `checkpoints.load_backbone_weights` maps both, and torchvision's ViT names). Position
embeddings are resized bicubically when the checkpoint's grid differs from the model's. The forward pass
returns the patch tokens as a feature map (B, C, H/16, W/16), the form HaMeR's head consumes.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

# name -> (embed_dim, depth, num_heads, mlp_ratio)
VIT_SIZES = {"s": (384, 12, 6, 4.0), "b": (768, 12, 12, 4.0), "l": (1024, 24, 16, 4.0), "h": (1280, 32, 16, 4.0)}


class Attention(nn.Module):
    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, N, C = x.shape
        q, k, v = self.qkv(x).reshape(B, N, 3, self.num_heads, C // self.num_heads).permute(2, 0, 3, 1, 4)
        x = F.scaled_dot_product_attention(q, k, v)
        return self.proj(x.transpose(1, 2).reshape(B, N, C))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim: int, num_heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    def __init__(self, patch_size: int, dim: int, padding: int = 0) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, dim, patch_size, patch_size, padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)


def resize_pos_embed(pos: torch.Tensor, grid: tuple[int, int], num_prefix: int) -> torch.Tensor:
    """(1, num_prefix + h*w, C) position embeddings resized to `grid` (bicubic; square source grids)."""
    prefix, tokens = pos[:, :num_prefix], pos[:, num_prefix:]
    n = tokens.shape[1]
    if n == grid[0] * grid[1]:
        return pos
    side = int(round(math.sqrt(n)))
    if side * side != n:
        raise ValueError(f"cannot resize {n} position embeddings: the checkpoint's grid is not square")
    t = tokens.reshape(1, side, side, -1).permute(0, 3, 1, 2)
    t = F.interpolate(t.float(), size=grid, mode="bicubic", align_corners=False).to(pos.dtype)
    return torch.cat([prefix, t.permute(0, 2, 3, 1).reshape(1, grid[0] * grid[1], -1)], 1)


class VisionTransformer(nn.Module):
    """ViT feature extractor for an `img_size` (H, W) input; `class_token=False` is ViTPose's variant."""

    def __init__(
        self,
        size: str = "b",
        patch_size: int = 16,
        img_size: tuple[int, int] | int = 224,
        class_token: bool = True,
        patch_padding: int = 0,
        final_norm: bool = True,
    ) -> None:
        super().__init__()
        if size not in VIT_SIZES:
            raise ValueError(f"ViT size must be one of {sorted(VIT_SIZES)}, got {size!r}")
        dim, depth, heads, mlp_ratio = VIT_SIZES[size]
        self.img_size = (img_size, img_size) if isinstance(img_size, int) else tuple(img_size)
        self.patch_size = patch_size
        self.patch_padding = patch_padding
        self.grid = tuple((s + 2 * patch_padding - patch_size) // patch_size + 1 for s in self.img_size)
        self.num_prefix = 1 if class_token else 0
        self.patch_embed = PatchEmbed(patch_size, dim, patch_padding)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim)) if class_token else None
        self.pos_embed = nn.Parameter(torch.randn(1, self.num_prefix + self.grid[0] * self.grid[1], dim) * 0.02)
        self.blocks = nn.ModuleList(Block(dim, heads, mlp_ratio) for _ in range(depth))
        self.norm = nn.LayerNorm(dim, eps=1e-6) if final_norm else nn.Identity()
        self.out_channels = dim
        self.stride = patch_size
        self.apply(self._init)

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x)
        B, C, h, w = x.shape
        x = x.flatten(2).transpose(1, 2)
        pos = self.pos_embed if (h, w) == self.grid else resize_pos_embed(self.pos_embed, (h, w), self.num_prefix)
        if self.cls_token is not None:
            x = torch.cat([self.cls_token.expand(B, -1, -1), x], 1)
        x = x + pos
        for blk in self.blocks:
            x = blk(x)
        x = self.norm(x)[:, self.num_prefix :]
        return x.transpose(1, 2).reshape(B, C, h, w)
