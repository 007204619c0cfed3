"""ONNX export of a trained network, verified against PyTorch with onnxruntime.

The graph takes `images` (B, 3, S, S) float RGB in [0, 1] and `K` (B, 3, 3) crop intrinsics and gives
joints (B, 21, 3), vertices (B, V, 3), keypoints_2d (B, 21, 2), global_orient (B, 3, 3), hand_pose
(B, 15, 3, 3), betas (B, S), transl (B, 3). The batch size B is fixed at export (`batch`, default 1): the
hand model's tracing records its batch size.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

OUTPUTS = ("joints", "vertices", "keypoints_2d", "global_orient", "hand_pose", "betas", "transl")


class ExportWrapper(torch.nn.Module):
    """The network with tensor outputs in `OUTPUTS` order (ONNX has no dataclasses)."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor, K: torch.Tensor) -> tuple[torch.Tensor, ...]:
        p = self.model(images, K)
        return tuple(getattr(p, k) for k in OUTPUTS)


def example_inputs(crop_size: int, batch: int = 2, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    images = torch.rand(batch, 3, crop_size, crop_size, generator=g)
    f = 1.2 * crop_size
    K = torch.tensor([[f, 0, crop_size / 2], [0, f, crop_size / 2], [0, 0, 1.0]]).expand(batch, 3, 3).contiguous()
    return images, K


def export_onnx(model: torch.nn.Module, path: str | Path, opset: int = 17, batch: int = 1) -> Path:
    model = model.eval()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        torch.onnx.export(
            ExportWrapper(model), example_inputs(model.crop_size, batch), str(path),
            input_names=["images", "K"], output_names=list(OUTPUTS), opset_version=opset, dynamo=False,
        )  # fmt: skip
    return path


def verify_onnx(model: torch.nn.Module, path: str | Path, seed: int = 1) -> dict[str, float]:
    """Largest |ONNX - PyTorch| per output on random crops other than the export's example."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    batch = sess.get_inputs()[0].shape[0]
    images, K = example_inputs(model.crop_size, batch, seed)
    got = sess.run(list(OUTPUTS), {"images": images.numpy(), "K": K.numpy()})
    with torch.no_grad():
        ref = ExportWrapper(model.eval())(images, K)
    return {k: float(np.abs(g - r.numpy()).max()) for k, g, r in zip(OUTPUTS, got, ref, strict=True)}
