"""The PyTorch port of MediaPipe's hand-landmark network against the TFLite interpreter on real hand crops."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("mediapipe")
interpreter = pytest.importorskip("ai_edge_litert.interpreter")

from handrecon.data.devdata import default_devdata_dir, load_labelled  # noqa: E402
from handrecon.io.images import load_image  # noqa: E402
from handrecon.nn.backbones import build_backbone  # noqa: E402
from handrecon.nn.backbones.mediapipe_hand import same_padding, wheel_model_path  # noqa: E402
from handrecon.train.crops import box_around, square_crop  # noqa: E402


def test_same_padding_puts_the_extra_pixel_after():
    assert same_padding(224, 3, 2) == (0, 1)
    assert same_padding(56, 5, 2) == (1, 2)
    assert same_padding(14, 5, 1) == (2, 2)


@pytest.fixture(scope="module")
def crops() -> np.ndarray:
    root = default_devdata_dir()
    if root is None:
        pytest.skip("devdata not present")
    out = []
    for im in load_labelled(root):
        img = load_image(im.path).rgb
        for hand in im.hands[:1]:
            out.append(square_crop(img, *box_around(hand.keypoints, hand.visible, 1.6)).image)
    return np.stack(out).astype(np.float32) / 255.0


def test_port_matches_tflite_on_devdata_crops(crops):
    it = interpreter.Interpreter(model_path=str(wheel_model_path()))
    it.allocate_tensors()
    outs = {d["name"]: d["index"] for d in it.get_output_details()}
    model = build_backbone("mediapipe_hand").eval()
    with torch.no_grad():
        ours = model.forward_all(torch.from_numpy(crops).permute(0, 3, 1, 2))
    present = 0
    for i, crop in enumerate(crops):
        it.set_tensor(it.get_input_details()[0]["index"], crop[None])
        it.invoke()
        lm = it.get_tensor(outs["Identity"]).reshape(21, 3)
        presence = float(it.get_tensor(outs["Identity_1"]).item())
        handed = float(it.get_tensor(outs["Identity_2"]).item())
        world = it.get_tensor(outs["Identity_3"]).reshape(21, 3)
        assert np.abs(ours.landmarks[i, :, :2].numpy() - lm[:, :2]).max() < 0.5
        assert abs(ours.presence[i].item() - presence) < 1e-3
        assert abs(ours.handedness[i].item() - handed) < 1e-3
        assert np.abs(ours.world_landmarks[i].numpy() - world).max() < 1e-3
        present += presence > 0.5
    assert present >= len(crops) // 2  # real hands: the crops are meaningful inputs


def test_features_are_the_last_map_and_gradients_flow():
    model = build_backbone("mediapipe_hand")
    x = torch.rand(1, 3, 224, 224, requires_grad=True)
    f = model(x)
    assert f.shape == (1, 1152, 7, 7) and model.out_channels == 1152
    f.mean().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
