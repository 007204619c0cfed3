"""A trained checkpoint (e.g. of the cpu-small recipe) beside the fitting pipeline on the same validation images.

Validation images: the held-out synthetic range of the recipe (indices from 1,000,000, never trained on) and
the labelled devdata photos (evaluation only). The network sees a crop around the labelled hand (as
`handrecon evaluate` does); the pipeline sees the whole image and is matched to the labelled hand by its
detected 2D keypoints. PA-MPJPE where 3D labels exist (synthetic, InterHand2.6M), 2D error in image pixels
everywhere. "network (pipeline found)" restricts the network to the samples the pipeline found.

    python benchmarks/bench_cpu_small.py CHECKPOINT [--synthetic 50] [--threads 2]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from handrecon.eval.position_error import pa_mpjpe
from handrecon.eval.report import MetricReport, format_comparison
from handrecon.train.config import DatasetConfig
from handrecon.train.data import open_dataset
from handrecon.train.evaluate import evaluate_model
from handrecon.train.run import load_checkpoint


def pipeline_report(ds, name: str) -> tuple[MetricReport, list[bool]]:
    from handrecon.api import HandReconstructor

    rec = HandReconstructor()
    report, found = MetricReport(f"pipeline {name}"), []
    for i in range(len(ds)):
        s = ds[i]
        h = s.hands[0]
        kp = h.keypoints_2d
        vis = kp[:, 2] > 0
        nominal = not getattr(s, "K_known", True)
        hands = rec.reconstruct(s.image, K=None if nominal else s.K)
        best, err = None, np.inf
        for r in hands:
            e = np.linalg.norm(r.keypoints_2d_detected[vis] - kp[vis, :2], axis=1).mean()
            if e < err:
                best, err = r, e
        ok = best is not None and err < 0.5 * np.ptp(kp[vis, :2], 0).max()
        found.append(ok)
        pa = np.nan
        if ok and h.joints_3d is not None:
            pa = float(pa_mpjpe(torch.as_tensor(best.joints_3d)[None], torch.as_tensor(h.joints_3d)[None]))
        report.add("PA-MPJPE [mm]", pa)
        e2 = np.nan
        if ok:
            e2 = float(np.linalg.norm(best.joints_2d[vis] - kp[vis, :2], axis=1).mean())
        report.add("2D error [px]", e2)
    rec.close()
    return report, found


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("--synthetic", type=int, default=50, help="held-out synthetic images (default 50)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model = load_checkpoint(args.checkpoint)
    scale = float(model.recipe.data.crop_scale)
    sets = [DatasetConfig("synthetic", "val", args.synthetic, 1_000_000), DatasetConfig("devdata", "all")]
    for cfg in sets:
        name = f"{cfg.name} {cfg.split}"
        t0 = time.perf_counter()
        ev = evaluate_model(model, cfg, 16, scale, f"network {name}")
        t_net = time.perf_counter() - t0
        t0 = time.perf_counter()
        pipe, found = pipeline_report(open_dataset(cfg), name)
        t_pipe = time.perf_counter() - t0
        sub = MetricReport(f"network {name} (pipeline found)")
        for k in ("PA-MPJPE [mm]", "2D error [px]"):
            vals = ev.report.values.get(k, [])
            sub.add(k, [v if f else float("nan") for v, f in zip(vals, found, strict=True)])
        net = MetricReport(ev.report.name)
        for k in ("PA-MPJPE [mm]", "2D error [px]"):
            net.add(k, ev.report.values.get(k, []))
        print(f"\n== {name}: {len(found)} images, pipeline found {sum(found)}; "
              f"time network {t_net:.1f} s, pipeline {t_pipe:.1f} s (same run, shared machine)")
        print(format_comparison([net, sub, pipe]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
