"""MediaPipe's hand-landmark network ("full", 224x224) rebuilt in PyTorch, weights read from the installed wheel.

The network ships in the `mediapipe` wheel as `modules/hand_landmark/hand_landmark_full.tflite` (Apache-2.0,
like the rest of the wheel: its dist-info LICENSE and its `License: Apache 2.0` metadata). Its weights are
read from that file at first use and never stored in this repository. The file is a TFLite flatbuffer,
parsed with the schema bindings MediaPipe itself ships: a MobileNetV2-like stack of 1x1 / depthwise
convolutions (TensorFlow "SAME" padding, fused ReLU6), residual additions, a global mean and four fully
connected outputs. The module replays that graph operator by operator, so the port is exact by construction
and checked against the TFLite interpreter (tests/nn/test_mediapipe_hand.py).

Input: (B, 3, 224, 224) RGB in [0, 1] (the model's own input range). `forward` gives the last feature map
(B, 1152, 7, 7), the backbone of the CPU recipes; `forward_all` also gives the model's outputs: 21 landmarks
in crop pixels (x, y and a relative depth z, MediaPipe's order = OpenPose-21), the hand-presence and the
handedness probabilities, and 21 world landmarks in metres.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from handrecon.io.errors import InputError

VARIANTS = {"full": "hand_landmark_full.tflite", "lite": "hand_landmark_lite.tflite"}
INPUT_SIZE = 224


def wheel_model_path(variant: str = "full") -> Path:
    """The .tflite file inside the installed mediapipe package."""
    if variant not in VARIANTS:
        raise ValueError(f"MediaPipe hand-landmark variant must be one of {sorted(VARIANTS)}, got {variant!r}")
    from handrecon.detect.mediapipe_hands import import_mediapipe

    try:
        mediapipe = import_mediapipe()
    except ImportError as e:
        raise ImportError(f"the mediapipe_hand backbone reads its weights from the mediapipe package ({e})") from None
    path = Path(mediapipe.__file__).parent / "modules" / "hand_landmark" / VARIANTS[variant]
    if not path.is_file():
        raise InputError(path, "the installed mediapipe package has no hand-landmark model here")
    return path


@dataclass
class TFLiteOp:
    kind: str  # CONV_2D, DEPTHWISE_CONV_2D, ADD, MEAN, FULLY_CONNECTED, LOGISTIC
    inputs: list[int]
    outputs: list[int]
    stride: int = 1
    relu6: bool = False


def read_tflite_graph(path: str | Path) -> tuple[list[TFLiteOp], dict[int, np.ndarray], dict[str, int], int]:
    """Operators (DEQUANTIZE folded into float32 constants), constants by tensor id, outputs by name, input id."""
    from handrecon.detect.mediapipe_hands import import_mediapipe

    import_mediapipe()  # the package without its plotting helpers' matplotlib
    from mediapipe.tasks.metadata import schema_py_generated as fb

    names = {v: k for k, v in vars(fb.BuiltinOperator).items() if not k.startswith("_")}
    dtypes = {fb.TensorType.FLOAT32: np.float32, fb.TensorType.FLOAT16: np.float16, fb.TensorType.INT32: np.int32}
    buf = Path(path).read_bytes()
    model = fb.Model.GetRootAs(buf, 0)
    g = model.Subgraphs(0)

    def constant(t: int) -> np.ndarray | None:
        tensor = g.Tensors(t)
        data = model.Buffers(tensor.Buffer()).DataAsNumpy()
        if isinstance(data, int) or data.size == 0:
            return None
        return np.frombuffer(data.tobytes(), dtypes[tensor.Type()]).reshape(tensor.ShapeAsNumpy())

    consts: dict[int, np.ndarray] = {}
    ops: list[TFLiteOp] = []
    for i in range(g.OperatorsLength()):
        op = g.Operators(i)
        code = model.OperatorCodes(op.OpcodeIndex())
        kind = names[max(code.BuiltinCode(), code.DeprecatedBuiltinCode())]
        ins, outs = [int(x) for x in op.InputsAsNumpy()], [int(x) for x in op.OutputsAsNumpy()]
        for t in ins:
            if t >= 0 and t not in consts and (c := constant(t)) is not None:
                consts[t] = c
        if kind == "DEQUANTIZE":
            consts[outs[0]] = consts[ins[0]].astype(np.float32)
            continue
        item = TFLiteOp(kind, ins, outs)
        table = op.BuiltinOptions()
        opts_cls = {"CONV_2D": fb.Conv2DOptions, "DEPTHWISE_CONV_2D": fb.DepthwiseConv2DOptions}.get(kind)
        if opts_cls is not None:
            o = opts_cls()
            o.Init(table.Bytes, table.Pos)
            if o.Padding() != fb.Padding.SAME or o.StrideW() != o.StrideH() or o.DilationWFactor() != 1:
                raise InputError(path, f"operator {i}: only SAME padding, square strides, no dilation are supported")
            item.stride = o.StrideW()
            act = o.FusedActivationFunction()
            if act not in (fb.ActivationFunctionType.NONE, fb.ActivationFunctionType.RELU6):
                raise InputError(path, f"operator {i}: unsupported fused activation {act}")
            item.relu6 = act == fb.ActivationFunctionType.RELU6
        elif kind not in ("ADD", "MEAN", "FULLY_CONNECTED", "LOGISTIC"):
            raise InputError(path, f"operator {i}: {kind} is not supported by the PyTorch port")
        ops.append(item)
    outputs = {g.Tensors(int(t)).Name().decode(): int(t) for t in g.OutputsAsNumpy()}
    return ops, consts, outputs, int(g.Inputs(0))


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's SAME padding (before, after): the extra pixel goes after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class SameConv2d(nn.Conv2d):
    """A convolution with TensorFlow's SAME padding, optionally followed by ReLU6 (as fused in TFLite)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, *args,
                 relu6: bool = False, **kwargs) -> None:
        # Stride 1 with an odd kernel: SAME is symmetric, the convolution pads by itself (no padded copy).
        self.pad_inside = stride == 1 and kernel_size % 2 == 1
        padding = (kernel_size - 1) // 2 if self.pad_inside else 0
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, *args, **kwargs)
        self.relu6 = relu6

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.pad_inside:
            k, s = self.kernel_size[0], self.stride[0]
            ph, pw = same_padding(x.shape[-2], k, s), same_padding(x.shape[-1], k, s)
            if any(ph + pw):
                x = F.pad(x, (pw[0], pw[1], ph[0], ph[1]))
        x = super().forward(x)
        return F.relu6(x) if self.relu6 else x


@dataclass
class HandLandmarkOutput:
    features: torch.Tensor  # (B, 1152, 7, 7) the last feature map (or the one chosen by feature_layer)
    landmarks: torch.Tensor  # (B, 21, 3) crop pixels x, y (0..224) and MediaPipe's relative depth z
    presence: torch.Tensor  # (B,) probability that the crop holds a hand
    handedness: torch.Tensor  # (B,) MediaPipe's handedness score (probability of a right hand)
    world_landmarks: torch.Tensor  # (B, 21, 3) metres, origin near the hand's centre


class MediaPipeHandLandmark(nn.Module):
    """The TFLite graph replayed with torch modules (see the module docstring)."""

    input_mean = (0.0, 0.0, 0.0)
    input_std = (1.0, 1.0, 1.0)

    def __init__(self, ops: list[TFLiteOp], consts: dict[int, np.ndarray], outputs: dict[str, int], input_id: int,
                 feature_layer: int = -1) -> None:
        super().__init__()
        self.layers = nn.ModuleList()
        self.plan: list[tuple[str, tuple[int, ...], int, int]] = []  # kind, inputs, output, layer index
        convs: list[int] = []
        for op in ops:
            idx = -1
            if op.kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
                w = torch.from_numpy(np.ascontiguousarray(consts[op.inputs[1]], np.float32))
                if op.kind == "CONV_2D":  # (O, kh, kw, I) -> (O, I, kh, kw)
                    w = w.permute(0, 3, 1, 2)
                    layer = SameConv2d(w.shape[1], w.shape[0], w.shape[-1], op.stride, relu6=op.relu6)
                else:  # (1, kh, kw, C) -> (C, 1, kh, kw)
                    w = w.permute(3, 0, 1, 2)
                    layer = SameConv2d(w.shape[0], w.shape[0], w.shape[-1], op.stride, groups=w.shape[0],
                                       relu6=op.relu6)
                layer.weight.data.copy_(w)
                layer.bias.data.copy_(torch.from_numpy(consts[op.inputs[2]].astype(np.float32)))
            elif op.kind == "FULLY_CONNECTED":
                w = torch.from_numpy(consts[op.inputs[1]].astype(np.float32))
                layer = nn.Linear(w.shape[1], w.shape[0])
                layer.weight.data.copy_(w)
                layer.bias.data.copy_(torch.from_numpy(consts[op.inputs[2]].astype(np.float32)))
            else:
                layer = None
            if layer is not None:
                idx = len(self.layers)
                self.layers.append(layer)
                if isinstance(layer, SameConv2d):
                    convs.append(op.outputs[0])
            dyn = tuple(t for t in op.inputs if t >= 0 and t not in consts)
            self.plan.append((op.kind, dyn, op.outputs[0], idx))
        self.input_id = input_id
        self.output_ids = {  # TFLite's output names (Identity, Identity_1, ...) by meaning
            "landmarks": outputs["Identity"],
            "presence": outputs["Identity_1"],
            "handedness": outputs["Identity_2"],
            "world_landmarks": outputs["Identity_3"],
        }
        self.feature_id = convs[feature_layer]
        self.out_channels = int(self.layers[[p[3] for p in self.plan if p[2] == self.feature_id][0]].out_channels)
        self.stride = INPUT_SIZE // 7 if feature_layer == -1 else None

    @classmethod
    def from_wheel(cls, variant: str = "full", feature_layer: int = -1) -> MediaPipeHandLandmark:
        """The network with the weights of the installed mediapipe wheel's `hand_landmark_<variant>.tflite`."""
        return cls(*read_tflite_graph(wheel_model_path(variant)), feature_layer=feature_layer)

    def _run(self, x: torch.Tensor, stop_at: int | None = None) -> dict[int, torch.Tensor]:
        values = {self.input_id: x}
        for kind, ins, out, idx in self.plan:
            if kind in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
                y = self.layers[idx](values[ins[0]])
            elif kind == "ADD":
                y = values[ins[0]] + values[ins[1]]
            elif kind == "MEAN":
                y = values[ins[0]].mean((2, 3))
            else:  # LOGISTIC
                y = torch.sigmoid(values[ins[0]])
            values[out] = y
            if out == stop_at:
                break
        return values

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The feature map (B, C, h, w) of images (B, 3, 224, 224) in [0, 1]."""
        return self._run(x, stop_at=self.feature_id)[self.feature_id]

    def forward_all(self, x: torch.Tensor) -> HandLandmarkOutput:
        v = self._run(x)
        o = self.output_ids
        B = x.shape[0]
        return HandLandmarkOutput(
            features=v[self.feature_id],
            landmarks=v[o["landmarks"]].reshape(B, 21, 3),
            presence=v[o["presence"]].reshape(B),
            handedness=v[o["handedness"]].reshape(B),
            world_landmarks=v[o["world_landmarks"]].reshape(B, 21, 3),
        )
