"""Backbones: architecture sizes against the published models, and checkpoint key mapping of the common formats."""

from __future__ import annotations

import pytest
import torch

from handrecon.io.errors import InputError
from handrecon.nn.backbones import build_backbone, load_backbone_weights
from handrecon.nn.backbones.vit import VisionTransformer


def _params(m: torch.nn.Module, skip: str = "") -> int:
    return sum(p.numel() for n, p in m.named_parameters() if not (skip and n.startswith(skip)))


@pytest.mark.parametrize(
    ("name", "count", "entries"),
    # torchvision's published parameter counts and state-dict sizes (with the 1000-class fc).
    [("resnet18", 11_689_512, 122), ("resnet34", 21_797_672, 218), ("resnet50", 25_557_032, 320)],
)
def test_resnet_matches_torchvision_sizes(name, count, entries):
    with torch.device("meta"):
        m = build_backbone(name)
    assert _params(m) == count
    assert len(m.state_dict()) == entries


def test_resnet_feature_map():
    m = build_backbone("resnet18")
    assert m(torch.rand(1, 3, 64, 64)).shape == (1, 512, 2, 2)


def test_vit_sizes_match_timm():
    # timm's vit_small/base_patch16_224 without their 1000-class head.
    with torch.device("meta"):
        assert _params(build_backbone("vit_s16")) == 22_050_664 - (384 * 1000 + 1000)
        assert _params(build_backbone("vit_b16")) == 86_567_656 - (768 * 1000 + 1000)
        assert build_backbone("vit_h16").out_channels == 1280
    m = build_backbone("vit_s16", img_size=64)
    assert m(torch.rand(2, 3, 64, 64)).shape == (2, 384, 4, 4)


def _perturbed(m: torch.nn.Module) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    sd = m.state_dict()
    return {k: torch.randn(v.shape, generator=g) if v.is_floating_point() else v.clone() for k, v in sd.items()}


def _assert_loaded(m: torch.nn.Module, expected: dict[str, torch.Tensor]) -> None:
    own = m.state_dict()
    for k, v in expected.items():
        assert torch.equal(own[k], v), k


@pytest.mark.parametrize("wrap", ["plain", "ddp", "mmcv"])
def test_resnet_loads_torchvision_ddp_and_mmcv_layouts(wrap, tmp_path):
    ref = _perturbed(build_backbone("resnet18"))
    assert "layer2.0.downsample.0.weight" in ref and "layer4.1.bn2.running_var" in ref  # torchvision's names
    if wrap == "ddp":
        sd = {"state_dict": {"module." + k: v for k, v in ref.items()}}
    elif wrap == "mmcv":
        sd = {"state_dict": {"backbone." + k: v for k, v in ref.items() if not k.startswith("fc.")}}
        sd["state_dict"]["keypoint_head.final_layer.weight"] = torch.zeros(21, 512, 1, 1)
        ref = {k: v for k, v in ref.items() if not k.startswith("fc.")}
    else:
        sd = ref
    path = tmp_path / "w.pth"
    torch.save(sd, path)
    m = build_backbone("resnet18", weights=path)
    _assert_loaded(m, ref)


def test_resnet_rejects_the_wrong_network(tmp_path):
    path = tmp_path / "r50.pth"
    torch.save(build_backbone("resnet50").state_dict(), path)
    with pytest.raises(InputError, match="shape"):
        build_backbone("resnet18", weights=path)
    torch.save({"x": torch.zeros(1)}, path)
    with pytest.raises(InputError, match="lacks"):
        build_backbone("resnet18", weights=path)
    with pytest.raises(InputError, match="no such"):
        build_backbone("resnet18", weights=tmp_path / "absent.pth")


def _torchvision_vit_keys(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The timm-named state dict renamed as torchvision's vit_b_16 names its tensors."""
    out = {}
    for k, v in sd.items():
        k2 = (
            k.replace("patch_embed.proj.", "conv_proj.")
            .replace("cls_token", "class_token")
            .replace("pos_embed", "encoder.pos_embedding")
        )
        if k.startswith("blocks."):
            i, rest = k[len("blocks.") :].split(".", 1)
            rest = {
                "norm1.weight": "ln_1.weight",
                "norm1.bias": "ln_1.bias",
                "norm2.weight": "ln_2.weight",
                "norm2.bias": "ln_2.bias",
                "attn.qkv.weight": "self_attention.in_proj_weight",
                "attn.qkv.bias": "self_attention.in_proj_bias",
                "attn.proj.weight": "self_attention.out_proj.weight",
                "attn.proj.bias": "self_attention.out_proj.bias",
                "mlp.fc1.weight": "mlp.0.weight",
                "mlp.fc1.bias": "mlp.0.bias",
                "mlp.fc2.weight": "mlp.3.weight",
                "mlp.fc2.bias": "mlp.3.bias",
            }[rest]
            k2 = f"encoder.layers.encoder_layer_{i}.{rest}"
        elif k.startswith("norm."):
            k2 = "encoder.ln." + k[len("norm.") :]
        out[k2] = v
    out["heads.head.weight"] = torch.zeros(1000, 384)
    return out


def test_vit_loads_timm_and_torchvision_layouts():
    ref = _perturbed(build_backbone("vit_s16"))
    m = build_backbone("vit_s16")
    load_backbone_weights(m, {**ref, "head.weight": torch.zeros(1000, 384), "head.bias": torch.zeros(1000)})
    _assert_loaded(m, ref)
    tv = _torchvision_vit_keys(ref)
    assert "encoder.layers.encoder_layer_11.self_attention.in_proj_weight" in tv
    m2 = build_backbone("vit_s16")
    load_backbone_weights(m2, tv)
    _assert_loaded(m2, ref)


def test_vit_loads_vitpose_layout_folding_the_class_position():
    m = build_backbone("vit_s16", variant="vitpose")
    assert m.grid == (16, 12) and m.cls_token is None
    ref = _perturbed(m)
    pos = torch.randn(1, 1 + 16 * 12, 384)
    sd = {"backbone." + ("last_" + k if k.startswith("norm.") else k): v for k, v in ref.items()}
    sd["backbone.pos_embed"] = pos
    sd["keypoint_head.final_layer.weight"] = torch.zeros(17, 384, 1, 1)
    load_backbone_weights(m, {"state_dict": sd})
    assert torch.allclose(m.pos_embed, pos[:, 1:] + pos[:, :1])
    assert torch.equal(m.norm.weight, ref["norm.weight"])
    assert m(torch.rand(1, 3, 256, 192)).shape == (1, 384, 16, 12)


def test_vit_position_embeddings_resized_to_the_models_grid():
    src = build_backbone("vit_s16")  # 14 x 14 grid
    m = VisionTransformer("s", 16, img_size=(256, 192))
    load_backbone_weights(m, src.state_dict())
    assert m.pos_embed.shape == (1, 1 + 16 * 12, 384)
    assert torch.equal(m.pos_embed[:, 0], src.pos_embed[:, 0])
    # A constant grid stays constant under bicubic resizing.
    sd = src.state_dict()
    sd["pos_embed"] = torch.ones_like(sd["pos_embed"])
    load_backbone_weights(m, sd)
    assert torch.allclose(m.pos_embed, torch.ones_like(m.pos_embed), atol=1e-5)


def test_unknown_backbone_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown backbone 'resnet99'"):
        build_backbone("resnet99")
