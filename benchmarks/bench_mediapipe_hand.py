"""MediaPipe hand-landmark network: the PyTorch port beside the TFLite interpreter, on devdata hand crops.

Prints the agreement (landmark pixels, presence, handedness) and the CPU time per 224x224 crop of both,
measured alternately in the same run (the machine may be shared: compare the ratio, not absolute times).

    python benchmarks/bench_mediapipe_hand.py [--threads 1] [--runs 30]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from _timing import median_ms  # noqa: E402

from handrecon.data.devdata import default_devdata_dir, load_labelled  # noqa: E402
from handrecon.io.images import load_image  # noqa: E402
from handrecon.nn.backbones import build_backbone  # noqa: E402
from handrecon.nn.backbones.mediapipe_hand import wheel_model_path  # noqa: E402
from handrecon.train.crops import box_around, square_crop  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", type=int, default=30)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from ai_edge_litert.interpreter import Interpreter

    root = default_devdata_dir()
    if root is None:
        print("devdata not present: nothing to measure")
        return 1
    crops = []
    for im in load_labelled(root):
        img = load_image(im.path).rgb
        for hand in im.hands:
            crops.append(square_crop(img, *box_around(hand.keypoints, hand.visible, 1.6)).image)
    x = np.stack(crops).astype(np.float32) / 255.0
    it = Interpreter(model_path=str(wheel_model_path()), num_threads=args.threads)
    it.allocate_tensors()
    inp = it.get_input_details()[0]["index"]
    outs = {d["name"]: d["index"] for d in it.get_output_details()}
    model = build_backbone("mediapipe_hand").eval()
    xt = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()

    with torch.no_grad():
        ours = model.forward_all(xt)
    d_lm, d_p, d_h = [], [], []
    for i in range(len(x)):
        it.set_tensor(inp, x[i : i + 1])
        it.invoke()
        ref = it.get_tensor(outs["Identity"]).reshape(21, 3)[:, :2]
        d_lm.append(np.abs(ours.landmarks[i, :, :2].numpy() - ref).max())
        d_p.append(abs(ours.presence[i].item() - it.get_tensor(outs["Identity_1"]).item()))
        d_h.append(abs(ours.handedness[i].item() - it.get_tensor(outs["Identity_2"]).item()))
    print(f"{len(x)} devdata crops: max |landmark difference| {max(d_lm):.2e} px, presence {max(d_p):.2e}, "
          f"handedness {max(d_h):.2e}")

    def tflite_one():
        it.set_tensor(inp, x[:1])
        it.invoke()

    def torch_one():
        with torch.inference_mode():
            model.forward_all(xt[:1])

    def torch_batch():
        with torch.inference_mode():
            model.forward_all(xt)

    t_tfl, t_pt, t_ptb = [], [], []
    for _ in range(3):  # alternate, so both see the same load
        t_tfl.append(median_ms(tflite_one, args.runs))
        t_pt.append(median_ms(torch_one, args.runs))
        t_ptb.append(median_ms(torch_batch, max(3, args.runs // 5)) / len(x))
    tfl, pt, ptb = np.median(t_tfl), np.median(t_pt), np.median(t_ptb)
    print(f"CPU time per crop ({args.threads} thread(s), median of 3x{args.runs} runs):")
    print(f"  TFLite (XNNPACK)      {tfl:7.2f} ms")
    print(f"  PyTorch, batch 1      {pt:7.2f} ms  ({pt / tfl:.2f}x TFLite)")
    print(f"  PyTorch, batch {len(x):<2d}     {ptb:7.2f} ms  ({ptb / tfl:.2f}x TFLite)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
