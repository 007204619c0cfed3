"""Penetration priors speed: median forward+backward time of the single-hand non-penetration loss (eq. 4)
for one hand, at rest and in penetrating poses, and of the two-hand penetration term.

Target on 2 CPU cores: single hand <= 20 ms (forward + backward, one hand).
Run: python benchmarks/bench_penetration.py [--device cuda] [--threads 2] [--runs 50]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import median_ms  # noqa: E402

from handrecon.geometry.rotations import matrix_to_axis_angle  # noqa: E402
from handrecon.hand import HandModel  # noqa: E402
from handrecon.hand.anatomy import Anatomy  # noqa: E402
from handrecon.priors import penetration as pn  # noqa: E402


def pose(model: HandModel, bends: dict[int, float]) -> torch.Tensor:
    """Axis-angle hand pose (1, 15, 3) from anatomical bend offsets in degrees (MANO joint order)."""
    anatomy = Anatomy.from_hand_model(model)
    deg = torch.zeros(1, 15, 3)
    for j, a in bends.items():
        deg[0, j, 0] = a
    return matrix_to_axis_angle(anatomy.euler_to_rotations(anatomy.rest_angles()[None] + torch.deg2rad(deg)))


def fist(mcp: float, pip: float, dip: float) -> dict[int, float]:
    return {j: a for f in (0, 3, 6, 9) for j, a in zip((f, f + 1, f + 2), (mcp, pip, dip), strict=True)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=50)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    right, left = HandModel(side="right").to(args.device), HandModel(side="left").to(args.device)
    print(f"penetration priors ({right.name}, {right.num_vertices} vertices) on {args.device}, {args.threads} threads")

    print("single hand, non_penetration_loss forward+backward (one hand)")
    print(f"{'pose':<34} {'inside':>7} {'depth [mm]':>11} {'fwd+bwd [ms]':>13}")
    cases = {
        "rest": {},
        "loose fist (45/60/30)": {**fist(45, 60, 30), 13: 20.0, 14: 20.0},
        "index through palm (130/100/40)": {0: 130.0, 1: 100.0, 2: 40.0},
        "thumb into palm (MCP 80, IP 80)": {13: 80.0, 14: 80.0},
        "tight fist (90/100/80)": fist(90, 100, 80),
    }
    for name, bends in cases.items():
        verts = right(hand_pose=pose(right, bends).to(args.device)).vertices.detach().requires_grad_(True)
        pen = pn.self_penetration(verts, right)

        def fwd_bwd(verts=verts):
            verts.grad = None
            pn.non_penetration_loss(verts, right).backward()

        depth = 1000 * pen.distance.max().item()
        print(f"{name:<34} {int(pen.inside.sum()):>7} {depth:>11.1f} {median_ms(fwd_bwd, args.runs):>13.2f}")

    print("two hands, two_hand_penetration_loss forward+backward (right hand + left hand)")
    print(f"{'placement':<34} {'inside':>7} {'depth [mm]':>11} {'fwd+bwd [ms]':>13}")
    a = right().vertices.detach().requires_grad_(True)
    for name, shift in {"left hand 2 cm into the right": [0.0, 0.0, 0.02], "20 cm apart": [0.2, 0.0, 0.0]}.items():
        b = left(transl=torch.tensor([shift], device=args.device)).vertices.detach().requires_grad_(True)
        pen = pn.two_hand_penetration(a, b, right, left)

        def fwd_bwd(b=b):
            a.grad = b.grad = None
            pn.two_hand_penetration_loss(a, b, right, left).backward()

        inside = int(pen.inside_a.sum() + pen.inside_b.sum())
        depth = 1000 * max(pen.distance_a.max().item(), pen.distance_b.max().item())
        print(f"{name:<34} {inside:>7} {depth:>11.1f} {median_ms(fwd_bwd, args.runs):>13.2f}")


if __name__ == "__main__":
    main()
