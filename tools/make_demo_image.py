"""Make the bundled demo photo: a realistic render of the openhand model made by handrecon's own synthetic
data engine (procedural skin, lighting, forearm, background), and its ground truth.

The first seeds of a fixed configuration are rendered until one shows a single hand that the palm detector
finds with confident handedness and an accurate 2D detection; that render and its labels are written to
src/handrecon/assets/demo_hand.jpg and demo_hand_truth.json. Run: python tools/make_demo_image.py
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image

from handrecon.detect.mediapipe_hands import MediaPipeHands
from handrecon.synth import SynthConfig, SynthEngine
from handrecon.synth.scene.cameras import CameraRanges
from handrecon.synth.scene.poses import PoseMixture

ASSETS = Path(__file__).resolve().parents[1] / "src" / "handrecon" / "assets"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--tries", type=int, default=60)
    args = ap.parse_args()
    cfg = SynthConfig(
        size=args.size,
        seed=args.seed,
        occluder_prob=0.0,
        skin_tone_range=(0.15, 0.55),
        mixture=PoseMixture(free=0.2, gesture=0.8, grasp=0.0),
        cameras=CameraRanges(exo_fill=(0.55, 0.7), exo_off_axis_deg=5.0),
    )
    engine = SynthEngine(cfg)
    detector = MediaPipeHands(max_hands=2)
    best = None
    for i in range(args.tries):
        s = engine.sample(i)
        dets = detector.detect(s.image)
        side = ("right", "left")[int(s.side[0])]
        if len(dets) != 1 or dets[0].handedness != side or dets[0].handedness_score < 0.9:
            continue
        visible = s.visible[0]
        err = np.linalg.norm(dets[0].keypoints - s.joints2d[0], axis=1)[visible].mean() / dets[0].size_px
        if visible.sum() >= 18 and (best is None or err < best[0]):
            best = (err, i, s, side)
        if best is not None and best[0] < 0.04:
            break
    if best is None:
        raise SystemExit("no render was detected; change --seed")
    err, i, s, side = best
    Image.fromarray(s.image).save(ASSETS / "demo_hand.jpg", quality=95)
    truth = {
        "source": f"handrecon synthetic engine, SynthConfig(size={args.size}, seed={args.seed}, ...), sample {i}",
        "side": side,
        "K": np.round(s.K, 6).tolist(),
        "joints_3d_m": np.round(s.joints3d[0], 6).tolist(),
        "joints_2d_px": np.round(s.joints2d[0], 3).tolist(),
        "joint_order": "openpose",
    }
    (ASSETS / "demo_hand_truth.json").write_text(json.dumps(truth, indent=1))
    print(f"sample {i}: detector error {100 * err:.1f} % of the hand size -> {ASSETS / 'demo_hand.jpg'}")


if __name__ == "__main__":
    main()
