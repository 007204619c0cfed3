"""Load backbone weights from a checkpoint file the user gives, whatever common format it is in.

Nothing is downloaded: the user passes a path. Recognised layouts (after unwrapping `state_dict` / `model` /
`module` containers and stripping `module.`, `backbone.`, `model.` prefixes):
- ResNet: torchvision's ImageNet checkpoints and timm's (same names), mmcv / mmpose (`backbone.` prefix).
- ViT: timm (the names used here), ViTPose / mmpose (`backbone.`, `last_norm`, no class token: its position
  embedding's class slot is folded into the patch embeddings as ViTPose's forward does), torchvision
  (`conv_proj`, `encoder.layers.encoder_layer_N.*`, fused `in_proj` attention).
Classification / keypoint heads of the checkpoint are dropped; a missing backbone key or a shape mismatch is
an error naming the key, never a silently half-loaded network.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from handrecon.io.errors import InputError

_CONTAINERS = ("state_dict", "model", "module", "state_dict_ema", "model_ema")
_PREFIXES = ("module.", "backbone.", "model.", "encoder_q.")
# Keys a backbone may lack in a checkpoint: ImageNet classifier, ViT class token (ViTPose has none).
_OPTIONAL = ("fc.weight", "fc.bias", "cls_token")
_HEAD_PREFIXES = ("keypoint_head.", "head.", "heads.", "fc_norm.", "pre_logits.", "neck.", "decode_head.")


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors of a .pth / .pt / .ckpt / .bin (torch.save) or .safetensors file, unwrapped from containers."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise InputError(path, "no such checkpoint file")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            obj = load_file(str(path))
        else:
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any decoder failure is a bad input file
        raise InputError(path, f"cannot read checkpoint: {e}") from None
    return unwrap_state_dict(obj, path)


def unwrap_state_dict(obj, name: str | Path = "<state dict>") -> dict[str, torch.Tensor]:
    """The tensors inside the training containers (`state_dict`, `model`, ...) of a loaded checkpoint."""
    for _ in range(3):
        if not isinstance(obj, Mapping):
            break
        inner = next((obj[k] for k in _CONTAINERS if isinstance(obj.get(k), Mapping)), None)
        if inner is None:
            break
        obj = inner
    if not isinstance(obj, Mapping) or not any(isinstance(v, torch.Tensor) for v in obj.values()):
        raise InputError(name, "holds no state dict of tensors")
    return {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}


def _strip_prefixes(sd: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out = dict(sd)
    changed = True
    while changed:
        changed = False
        for p in _PREFIXES:
            hits = [k for k in out if k.startswith(p)]
            # Strip a prefix when it wraps the network (most keys), then drop the keys outside it (heads).
            if hits and len(hits) >= len(out) / 2:
                out = {k[len(p) :]: v for k, v in out.items() if k.startswith(p)}
                changed = True
    return {k: v for k, v in out.items() if not k.startswith(_HEAD_PREFIXES)}


_TV_VIT = [
    (r"^conv_proj\.", "patch_embed.proj."),
    (r"^class_token$", "cls_token"),
    (r"^encoder\.pos_embedding$", "pos_embed"),
    (r"^encoder\.ln\.", "norm."),
    (r"^encoder\.layers\.encoder_layer_(\d+)\.ln_1\.", r"blocks.\1.norm1."),
    (r"^encoder\.layers\.encoder_layer_(\d+)\.ln_2\.", r"blocks.\1.norm2."),
    (r"^encoder\.layers\.encoder_layer_(\d+)\.self_attention\.in_proj_", r"blocks.\1.attn.qkv."),
    (r"^encoder\.layers\.encoder_layer_(\d+)\.self_attention\.out_proj\.", r"blocks.\1.attn.proj."),
    (r"^encoder\.layers\.encoder_layer_(\d+)\.mlp\.(0|linear_1)\.", r"blocks.\1.mlp.fc1."),
    (r"^encoder\.layers\.encoder_layer_(\d+)\.mlp\.(3|linear_2)\.", r"blocks.\1.mlp.fc2."),
]


def _rename(sd: Mapping[str, torch.Tensor], rules) -> dict[str, torch.Tensor]:
    out = {}
    for k, v in sd.items():
        for pat, rep in rules:
            k2 = re.sub(pat, rep, k)
            if k2 != k:
                k = k2
                break
        out[k] = v
    return out


def _is_square(n: int) -> bool:
    return n > 0 and int(round(n**0.5)) ** 2 == n


def map_vit_state_dict(sd: Mapping[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """A timm / ViTPose / torchvision ViT state dict in this package's names and the model's grid."""
    from handrecon.nn.backbones.vit import resize_pos_embed

    sd = _strip_prefixes(sd)
    if any(k.startswith("encoder.layers.") for k in sd):
        sd = _rename(sd, _TV_VIT)
    sd = {("norm." + k[len("last_norm.") :] if k.startswith("last_norm.") else k): v for k, v in sd.items()}
    if "pos_embed" in sd:
        pos = sd["pos_embed"]
        n_ckpt = pos.shape[1]
        n_grid = model.grid[0] * model.grid[1]
        has_cls = "cls_token" in sd or n_ckpt == n_grid + 1 or (n_ckpt != n_grid and _is_square(n_ckpt - 1))
        if model.num_prefix == 0 and has_cls:
            pos = pos[:, 1:] + pos[:, :1]  # ViTPose adds the class slot's embedding to every patch
        elif model.num_prefix == 1 and not has_cls:
            pos = torch.cat([torch.zeros_like(pos[:, :1]), pos], 1)
        sd["pos_embed"] = resize_pos_embed(pos, model.grid, model.num_prefix)
    if model.cls_token is None:
        sd.pop("cls_token", None)
    return sd


def map_resnet_state_dict(sd: Mapping[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """A torchvision / timm / mmcv ResNet state dict in torchvision's names (the ones used here)."""
    sd = _strip_prefixes(sd)
    return {k: v for k, v in sd.items() if not k.endswith("num_batches_tracked") or k in model.state_dict()}


def load_backbone_weights(model: nn.Module, source: str | Path | Mapping[str, torch.Tensor]) -> list[str]:
    """Load `source` (a path or a state dict) into `model`; returns the optional keys the checkpoint lacked."""
    from handrecon.nn.backbones.resnet import ResNet
    from handrecon.nn.backbones.vit import VisionTransformer

    name = str(source) if not isinstance(source, Mapping) else "<state dict>"
    sd = read_state_dict(source) if not isinstance(source, Mapping) else unwrap_state_dict(source)
    if isinstance(model, VisionTransformer):
        sd = map_vit_state_dict(sd, model)
    elif isinstance(model, ResNet):
        sd = map_resnet_state_dict(sd, model)
    else:
        sd = _strip_prefixes(sd)
    own = model.state_dict()
    for k, v in sd.items():
        if k in own and own[k].shape != v.shape:
            raise InputError(name, f"{k} has shape {tuple(v.shape)} in the checkpoint, {tuple(own[k].shape)} here")
    missing = [k for k in own if k not in sd]
    required = [k for k in missing if k not in _OPTIONAL and not k.endswith("num_batches_tracked")]
    if required:
        more = f" (and {len(required) - 3} more)" if len(required) > 3 else ""
        raise InputError(name, f"not a checkpoint of this backbone: it lacks {', '.join(required[:3])}{more}")
    model.load_state_dict({k: v for k, v in sd.items() if k in own}, strict=False)
    return missing
