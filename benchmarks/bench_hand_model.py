"""HandModel speed: median forward and forward+backward time for batch 1 and 64.

Target on 2 CPU cores: batch 64 forward <= 10 ms, forward+backward <= 30 ms.
Run: python benchmarks/bench_hand_model.py [--device cuda] [--threads 2]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import median_ms  # noqa: E402

from handrecon.hand import HandModel  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=50)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model = HandModel().to(args.device)
    print(f"HandModel ({model.name}, {model.num_vertices} vertices) on {args.device}, {args.threads} threads")
    print(f"{'batch':>5} {'forward [ms]':>13} {'fwd+bwd [ms]':>13}")
    for B in (1, 64):
        g = torch.Generator().manual_seed(0)
        p = {
            "global_orient": torch.randn(B, 3, generator=g),
            "hand_pose": 0.3 * torch.randn(B, 15, 3, generator=g),
            "betas": torch.randn(B, 10, generator=g),
            "transl": torch.randn(B, 3, generator=g),
        }
        p = {k: v.to(args.device) for k, v in p.items()}

        q = {k: v.clone().requires_grad_(True) for k, v in p.items()}

        def fwd(p=p):
            with torch.no_grad():
                return model(**p)

        def fwd_bwd(q=q):
            out = model(**q)
            (out.vertices.square().sum() + out.joints.sum()).backward()

        print(f"{B:>5} {median_ms(fwd, args.runs):>13.2f} {median_ms(fwd_bwd, args.runs):>13.2f}")


if __name__ == "__main__":
    main()
