"""The reconstruction pipeline on the fixed synthetic 3D benchmark (benchmarks/make_synth_benchmark.py):
PA-MPJPE, PA-MPVPE, F@5 / F@15, absolute MPJPE, MRRPE (two hands) and penetration rate, with MediaPipe's
metric world landmarks side by side where they apply (joints only: MediaPipe gives no mesh). Ground truth
is exact: the renders come from the same hand model.

Run: python benchmarks/bench_synth_eval.py [--root ~/.cache/handrecon/synth_bench] [--limit N]
     [--init ik network] [--init-checkpoint FILE] [--network-shape S]   (each start of the fit on the same samples)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from handrecon.api import HandReconstructor  # noqa: E402
from handrecon.data.freihand import FreiHANDDataset  # noqa: E402
from handrecon.eval import fscore, mpjpe, mrrpe, pa_mpjpe, pa_mpvpe  # noqa: E402
from handrecon.eval.report import MetricReport, format_comparison  # noqa: E402
from handrecon.pipeline.config import NETWORK_SHAPES, PipelineConfig  # noqa: E402

SIDES = ("right", "left")


def gt_hands(item: dict) -> list[dict]:
    """Ground-truth hands of a sample: side, joints (21, 3), vertices (V, 3), 2D joints."""
    hands = []
    for k in range(2):
        if item["side"][k] < 0:
            continue
        verts = item["verts"] if k == 0 else item["vertices_second"]
        hands.append(
            {
                "side": SIDES[int(item["side"][k])],
                "joints": item["joints3d"][k],
                "verts": verts,
                "uv": item["joints2d"][k],
            }
        )
    return hands


def evaluate(
    rec: HandReconstructor, root: Path, subset: str, limit: int | None
) -> tuple[MetricReport, MetricReport, dict]:
    data = FreiHANDDataset(root / subset, load_vertices=True)
    ours, mp = MetricReport(f"handrecon {subset}"), MetricReport(f"MediaPipe {subset}")
    counts = {"samples": 0, "gt_hands": 0, "found": 0, "penetrating": 0}
    n = len(data) if limit is None else min(limit, len(data))
    t0 = time.perf_counter()
    for i in range(n):
        item = data.raw(i)
        gts = gt_hands(item)
        counts["samples"] += 1
        counts["gt_hands"] += len(gts)
        hands = rec.reconstruct(item["image"], K=item["K"])
        matched = {}
        for h in hands:
            cands = [g for g in gts if g["side"] == h.handedness]
            if not cands:
                continue
            g = min(cands, key=lambda g: np.linalg.norm(h.keypoints_2d_detected - g["uv"], axis=1).mean())
            if np.linalg.norm(h.keypoints_2d_detected - g["uv"], axis=1).mean() > 0.5 * np.ptp(g["uv"], 0).max():
                continue
            matched[g["side"]] = (h, g)
        for h, g in matched.values():
            counts["found"] += 1
            pj, gj = torch.as_tensor(h.joints_3d)[None], torch.as_tensor(g["joints"])[None]
            pv, gv = torch.as_tensor(h.vertices)[None], torch.as_tensor(g["verts"])[None]
            ours.add("PA-MPJPE [mm]", pa_mpjpe(pj, gj))
            ours.add("PA-MPVPE [mm]", pa_mpvpe(pv, gv))
            ours.add("MPJPE (camera frame) [mm]", mpjpe(pj, gj))
            ours.add("F@5mm", fscore(pv, gv, 5.0, align=True).fscore)
            ours.add("F@15mm", fscore(pv, gv, 15.0, align=True).fscore)
            pen = max(h.plausibility.penetration_depth_mm or 0.0, h.plausibility.penetrates_other_hand_mm or 0.0)
            ours.add("penetration rate (> 6 mm)", float(pen > 6.0))
            counts["penetrating"] += pen > 6.0
            world = torch.as_tensor(h.detector["world_landmarks_m"])[None]
            mp.add("PA-MPJPE [mm]", pa_mpjpe(world, gj))
        if len(matched) == 2:
            (hr, gr), (hl, gl) = matched["right"], matched["left"]
            ours.add(
                "MRRPE [mm]",
                mrrpe(
                    torch.as_tensor(hl.joints_3d)[None], torch.as_tensor(hr.joints_3d)[None],
                    torch.as_tensor(gl["joints"])[None], torch.as_tensor(gr["joints"])[None],
                ),
            )  # fmt: skip
    counts["seconds"] = round(time.perf_counter() - t0, 1)
    return ours, mp, counts


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", type=Path, default=Path("~/.cache/handrecon/synth_bench"))
    ap.add_argument("--limit", type=int, default=None, help="samples per subset (default: all)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    ap.add_argument("--init", nargs="+", default=[PipelineConfig().init], choices=["ik", "network"],
                    help="the fit's start(s) (default: the pipeline's)")
    ap.add_argument("--init-checkpoint", default=None, help="landmark network file (default: the bundled one)")
    ap.add_argument("--network-shape", default=None, choices=NETWORK_SHAPES,
                    help="3D shape held by the fit of a network start (default: the pipeline's)")
    ap.add_argument("--network-iterations", type=int, default=None,
                    help="fit steps after the network's start (default: the pipeline's)")
    ap.add_argument("--subsets", nargs="*", default=None, help="only these subsets (default: all)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    root = args.root.expanduser()
    if not (root / "benchmark.json").is_file():
        print(f"{root}: no benchmark; generate it with python benchmarks/make_synth_benchmark.py")
        return
    steps = {} if args.network_iterations is None else {"network_iterations": args.network_iterations}
    if args.network_shape is not None:
        steps["network_shape"] = args.network_shape
    recs = {init: HandReconstructor(config=PipelineConfig(init=init, init_checkpoint=args.init_checkpoint, **steps))
            for init in args.init}
    summary = {}
    for subset in json.loads((root / "benchmark.json").read_text())["subsets"]:
        if args.subsets and subset not in args.subsets:
            continue
        reports, counted = [], {}
        for init, rec in recs.items():
            ours, mp, counts = evaluate(rec, root, subset, args.limit)
            ours.name = f"{ours.name} (init {init})"
            reports.append(ours)
            counted[init] = counts
            summary[f"{subset}/{init}"] = {"counts": counts, "handrecon": ours.to_dict(), "mediapipe": mp.to_dict()}
        print(f"\n== {subset}: {counted}")
        print(format_comparison([*reports, mp]))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
