"""Write the packaged weights of the fast path's landmark network from a training checkpoint.

    python tools/ship_landmark_init.py RUN/landmark-init/checkpoints/last.ckpt --command "handrecon train ..."

Keeps the network's head only (`nn.landmark_init.save_head`: no hand-model buffers, nothing of MediaPipe) in
src/handrecon/assets/landmark_init.safetensors, and its provenance (data, recipe, command, git commit, seed,
validation metrics, hand-model asset hash) in the file's metadata and in landmark_init.json beside it.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
from pathlib import Path

import torch

from handrecon.nn.landmark_init import asset_sha256, load_head, save_head
from handrecon.train.run import load_checkpoint

ASSETS = Path(__file__).resolve().parents[1] / "src" / "handrecon" / "assets"


def last_metrics(run_dir: Path) -> dict:
    """The last logged value of every validation metric of the run's CSV log."""
    path = run_dir / "csv" / "metrics.csv"
    out: dict[str, float] = {}
    if path.is_file():
        with path.open() as f:
            for row in csv.DictReader(f):
                for k, v in row.items():
                    if k.startswith("val/") and v not in ("", None):
                        out[k] = round(float(v), 3)
                        out["epoch"] = int(row["epoch"])
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("--command", default="handrecon train landmark-init", help="the training command, recorded")
    ap.add_argument("--out", type=Path, default=ASSETS / "landmark_init.safetensors")
    args = ap.parse_args()
    net = load_checkpoint(args.checkpoint)
    from handrecon.train.config import to_container

    recipe = to_container(net.recipe)
    m = recipe["model"]
    options = {"hand_model": m["hand_model"], "head": m["head"], "head_opts": m["head_opts"],
               "crop_size": m["crop_size"]}
    git = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=ASSETS).stdout.strip()
    dirty = bool(subprocess.run(["git", "status", "--porcelain", "src"], capture_output=True, text=True,
                                cwd=ASSETS).stdout.strip())
    import mediapipe

    from handrecon.data.detected_synthetic import DEFAULT_CONFIG, SPLIT_STARTS

    provenance = {
        "network": "landmark_init (handrecon.nn.landmark_init.LandmarkInitNet), head weights only",
        "data": {"train": recipe["data"]["train"], "val": recipe["data"]["val"],
                 "synthetic_config": DEFAULT_CONFIG, "split_starts": SPLIT_STARTS,
                 "detector": f"mediapipe {mediapipe.__version__} hand landmarks run on the synthetic renders",
                 "devdata": "not used"},
        "recipe": recipe,
        "command": args.command,
        "git_commit": git + (" (with uncommitted changes)" if dirty else ""),
        "seed": int(recipe["seed"]),
        "metrics": last_metrics(args.checkpoint.parent.parent),
        "hand_model_asset_sha256": asset_sha256(m["hand_model"]),
        "parameters": int(sum(p.numel() for n, p in net.named_parameters() if n.startswith(("mlp.", "out.")))),
    }
    save_head(net, args.out, options, provenance)
    args.out.with_suffix(".json").write_text(json.dumps(provenance, indent=2) + "\n")
    back, _ = load_head(args.out)
    for k, v in back.state_dict().items():
        if k.startswith(("mlp.", "out.")):
            assert torch.equal(v, net.state_dict()[k]), k
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB) and {args.out.with_suffix('.json').name}")


if __name__ == "__main__":
    main()
