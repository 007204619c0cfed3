"""`handrecon demo`: the whole pipeline on the bundled sample photo (a render made by handrecon's own
synthetic data engine, with its exact ground truth), then where the outputs are and how close they are."""

from __future__ import annotations

import argparse
import json
import sys
from importlib import resources
from pathlib import Path

import numpy as np


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--out", "-o", type=Path, default=Path("handrecon_demo"), help="output folder (default: handrecon_demo)"
    )


def run(args: argparse.Namespace) -> int:
    import torch

    from handrecon.api import HandReconstructor
    from handrecon.eval import mpjpe, pa_mpjpe
    from handrecon.pipeline.outputs import write_image_outputs

    assets = resources.files("handrecon.assets")
    truth = json.loads((assets / "demo_hand_truth.json").read_text())
    with resources.as_file(assets / "demo_hand.jpg") as photo:
        rec = HandReconstructor()
        rgb, _, _ = rec.load(photo)
        K = np.asarray(truth["K"])
        hands = rec.reconstruct(rgb, K=K)
        rec.close()
    if not hands:
        print(f"handrecon demo: {photo.name}: no hand found", file=sys.stderr)
        return 1
    files = write_image_outputs(args.out, "demo_hand", "demo_hand.jpg (bundled)", rgb, hands, K)
    h = hands[0]
    gt = torch.as_tensor(truth["joints_3d_m"])[None]
    pred = torch.as_tensor(h.joints_3d)[None]
    err2d = np.linalg.norm(h.joints_2d - np.asarray(truth["joints_2d_px"]), axis=1).mean()
    print(f"reconstructed {len(hands)} hand(s) in the bundled sample ({truth['side']} hand, rendered by handrecon)")
    print(f"  {h.handedness} hand, wrist at {np.round(h.root, 3).tolist()} m in the camera frame")
    print(f"  against the render's ground truth: MPJPE {float(mpjpe(pred, gt)[0]):.1f} mm, "
          f"PA-MPJPE {float(pa_mpjpe(pred, gt)[0]):.1f} mm, 2D error {err2d:.1f} px")  # fmt: skip
    print(f"  plausible: {h.plausibility.plausible} (largest joint-limit violation "
          f"{h.plausibility.max_joint_limit_violation_deg:.1f} deg)")  # fmt: skip
    print(f"outputs in {args.out.resolve()}:")
    for f in files.all():
        print(f"  {f}")
    return 0
