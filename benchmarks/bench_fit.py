"""The knowledge-prior fit alone (`HandFitter.fit`), timed per image on fixed inputs, beside another
source tree's fit on the same inputs.

The inputs (observations, intrinsics, initial parameters) are captured once from every dev photo (the
detector's output, through the pipeline's `observations`), so that both trees fit exactly the same
problems; each tree then runs in its own process with one torch thread, the trees interleaved run by run.
Besides the photo fit (the pipeline's default settings), a video-like fit is timed: warm-started from the
photo fit's result with the video settings (temporal term, `VideoSettings.iterations`, no penetration stage).

Printed: median fit time per image and per hand for each tree (wall clock, and the process's CPU time,
which other jobs on a loaded machine disturb less), their ratios, and how far the results of this tree lie
from the other's (3D joints, 2D reprojection, penetration depths, joint-limit excess).

Run: python benchmarks/bench_fit.py [--devdata PATH] [--baseline-src DIR] [--runs 3]
(DIR: a `src` folder of the reference, e.g. `git archive main src | tar -x -C /tmp/base`)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def capture(root: Path, out: Path, detector: str) -> None:
    """Fit inputs of every dev photo (plain tensors, so that any tree can read them)."""
    from handrecon.api import HandReconstructor
    from handrecon.data.devdata import load_labelled, unlabelled_photos

    rec = HandReconstructor(detector=detector)
    paths = [it.path for it in load_labelled(root)] + unlabelled_photos(root)
    cases = []
    for p in paths:
        rgb, K, _ = rec.load(p)
        dets = rec.pipeline.detect(rgb)
        if not dets:
            continue
        obs, init = rec.pipeline.observations(dets, K)
        cases.append(
            {
                "name": Path(p).name,
                "K": K.double(),
                "obs": [
                    {"side": o.side, "keypoints": o.keypoints, "sigma": o.sigma, "world": o.world} for o in obs
                ],
                "init": [
                    {k: getattr(q, k) for k in ("global_orient", "hand_pose", "betas", "transl", "bone_scales")}
                    for q in init
                ],
            }
        )
    rec.close()
    torch.save(cases, out)


def run_fits(cases_path: Path, runs: int, out: Path) -> None:
    """Time the fit of every captured case in this process's tree; results and times to `out` (.pt)."""
    import dataclasses

    from handrecon.fit.refine import HandFitter, HandObservation
    from handrecon.hand.model import HandModel
    from handrecon.hand.params import HandParams
    from handrecon.pipeline.config import PipelineConfig

    torch.set_num_threads(1)
    cfg = PipelineConfig()
    overrides = json.loads(os.environ.get("BENCH_FIT_SETTINGS", "{}"))
    cfg = dataclasses.replace(cfg, fit=dataclasses.replace(cfg.fit, **overrides))
    models = {s: HandModel(side=s) for s in ("right", "left")}
    photo = HandFitter(models, cfg.weights, cfg.fit)
    video = HandFitter(
        models,
        dataclasses.replace(cfg.weights, temporal=cfg.video.temporal_weight),
        dataclasses.replace(cfg.fit, iterations=cfg.video.iterations, test_penetration=False),
    )
    cases = torch.load(cases_path, weights_only=False)
    results = {"photo": {}, "video": {}, "t_photo": {}, "t_video": {}, "c_photo": {}, "c_video": {}}
    for r in range(runs):
        for c in cases:
            obs = [HandObservation(**o) for o in c["obs"]]
            init = [HandParams(**q) for q in c["init"]]
            t0, c0 = time.perf_counter(), time.process_time()
            fits = photo.fit(obs, c["K"], init)
            t1, c1 = time.perf_counter(), time.process_time()
            prev = [f.params for f in fits]
            vfits = video.fit(obs, c["K"], prev, prev)
            t2, c2 = time.perf_counter(), time.process_time()
            results["t_photo"].setdefault(c["name"], []).append(t1 - t0)
            results["t_video"].setdefault(c["name"], []).append(t2 - t1)
            results["c_photo"].setdefault(c["name"], []).append(c1 - c0)
            results["c_video"].setdefault(c["name"], []).append(c2 - c1)
            if r == 0:
                for key, fs in (("photo", fits), ("video", vfits)):
                    pairs = zip(obs, fs, strict=True)
                    results[key][c["name"]] = [_summary(models[o.side], f, c["K"]) for o, f in pairs]
    torch.save(results, out)


def _summary(model, f, K: torch.Tensor) -> dict:
    from handrecon.geometry.camera import project_points
    from handrecon.hand.rom import range_of_motion
    from handrecon.priors.knowledge import functional_ranges, range_violation

    p = f.params
    with torch.no_grad():
        out = model.double()(
            global_orient=p.global_orient.double(),
            hand_pose=p.hand_pose.double(),
            betas=p.betas.double(),
            transl=p.transl.double(),
            bone_scales=None if p.bone_scales is None else p.bone_scales.double(),
            skin_mesh=False,
        )
        model.float()
        a = f.angles[None].double()
        viol = range_violation(a, functional_ranges(a, range_of_motion(torch.float64)))
    return {
        "joints": out.joints[0],
        "uv": project_points(out.joints, K.double())[0],
        "depth": f.self_penetration,
        "viol_deg": float(viol.max()) * 180 / np.pi,
        "total": f.energy_terms.get("total"),
    }


def _child(src: Path | None, cases: Path, runs: int, out: Path, settings: dict) -> None:
    env = dict(os.environ, OMP_NUM_THREADS="1", BENCH_FIT_SETTINGS=json.dumps(settings))
    if src is not None:
        env["PYTHONPATH"] = str(src)
    cmd = [sys.executable, __file__, "--fit-cases", str(cases), "--runs", str(runs), "--fit-out", str(out)]
    subprocess.run(cmd, check=True, env=env)


def compare(cur: dict, ref: dict, key: str) -> dict:
    dj, duv, depth_c, depth_r, viol_c, viol_r, e_c, e_r = [], [], [], [], [], [], [], []
    for name, hands in cur[key].items():
        for a, b in zip(hands, ref[key][name], strict=True):
            dj.append(float((a["joints"] - b["joints"]).norm(dim=-1).mean()) * 1000)
            duv.append(float((a["uv"] - b["uv"]).norm(dim=-1).mean()))
            depth_c.append((a["depth"] or 0) * 1000)
            depth_r.append((b["depth"] or 0) * 1000)
            viol_c.append(a["viol_deg"])
            viol_r.append(b["viol_deg"])
            e_c.append(a["total"])
            e_r.append(b["total"])
    e_c, e_r = np.array(e_c), np.array(e_r)
    return {
        "hands": len(dj),
        "joints_mm_mean": float(np.mean(dj)),
        "joints_mm_max": float(np.max(dj)),
        "uv_px_mean": float(np.mean(duv)),
        "uv_px_max": float(np.max(duv)),
        "max_depth_mm": (float(np.max(depth_c)), float(np.max(depth_r))),
        "over_6mm": (int(np.sum(np.array(depth_c) > 6)), int(np.sum(np.array(depth_r) > 6))),
        "max_viol_deg": (float(np.max(viol_c)), float(np.max(viol_r))),
        "energy_median": (float(np.median(e_c)), float(np.median(e_r))),
        "energy_ratio_median": float(np.median(e_c / e_r)),
        "energy_ratio_max": float(np.max(e_c / e_r)),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--devdata", type=Path, default=None)
    ap.add_argument("--detector", default="thorough", choices=["thorough", "fast"])
    ap.add_argument("--baseline-src", type=Path, default=None, help="a reference tree's src folder")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument(
        "--set", nargs="*", default=[], metavar="KEY=VALUE", help="FitSettings of this tree's fit (not the baseline's)"
    )
    ap.add_argument("--cases", type=Path, default=None, help="reuse captured inputs (else captured now)")
    ap.add_argument("--fit-cases", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--fit-out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.fit_cases is not None:
        run_fits(args.fit_cases, args.runs, args.fit_out)
        return
    from _devdata import devdata_root

    root = devdata_root(args.devdata)
    if root is None:
        return
    settings = {k: json.loads(v) for k, v in (kv.split("=", 1) for kv in args.set)}
    with tempfile.TemporaryDirectory() as tmp:
        cases = args.cases
        if cases is None:
            cases = Path(tmp) / "cases.pt"
            capture(root, cases, args.detector)
        n_cases = len(torch.load(cases, weights_only=False))
        trees = {"this tree": None}
        if args.baseline_src is not None:
            trees["baseline"] = args.baseline_src
        kinds = ("t_photo", "t_video", "c_photo", "c_video")
        times = {k: {kind: {} for kind in kinds} for k in trees}
        res = {}
        for r in range(args.runs):  # interleaved: one run of each tree in turn
            for name, src in trees.items():
                out = Path(tmp) / f"{name.replace(' ', '_')}_{r}.pt"
                _child(src, cases, 1, out, settings if src is None else {})
                got = torch.load(out, weights_only=False)
                res.setdefault(name, got)
                for k in kinds:
                    for case, ts in got[k].items():
                        times[name][k].setdefault(case, []).extend(ts)
        hands = sum(len(h) for h in res["this tree"]["photo"].values())
        print(f"{n_cases} images, {hands} hands, {args.runs} interleaved runs, 1 torch thread")
        summary = {}
        for name in trees:
            for k in kinds:
                per_image = [statistics.median(ts) * 1000 for ts in times[name][k].values()]
                total = sum(per_image)
                summary[(name, k)] = total
                clock = "wall" if k[0] == "t" else "CPU "
                print(f"  {name:10s} {k[2:]:5s} fit, {clock} time: median {statistics.median(per_image):7.1f} ms "
                      f"per image, {total / hands:7.1f} ms per hand (mean)")  # fmt: skip
        if "baseline" in trees:
            for k in kinds:
                ratio = summary[("baseline", k)] / summary[("this tree", k)]
                clock = "wall" if k[0] == "t" else "CPU"
                print(f"  {k[2:]} fit, {clock} time: baseline / this tree = {ratio:.2f}x")
            for key in ("photo", "video"):
                print(f"  {key} results, this tree vs baseline: "
                      f"{json.dumps(compare(res['this tree'], res['baseline'], key))}")  # fmt: skip
        else:
            print(f"  photo: max penetration depth {max((h['depth'] or 0) for hs in res['this tree']['photo'].values() for h in hs) * 1000:.2f} mm")  # noqa: E501  # fmt: skip


if __name__ == "__main__":
    main()
