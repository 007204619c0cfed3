"""Write the packaged weights of the fast path's landmark network from a training checkpoint.

    python tools/ship_landmark_init.py RUN/landmark-init/checkpoints/last.ckpt --command "handrecon train ..."
    python tools/ship_landmark_init.py RUN/landmark-init --command "..."   (picks the checkpoint, see below)
    python tools/ship_landmark_init.py FILE.ckpt|FILE.safetensors --report-only   (held-out figures only)

Given a run folder, the checkpoint is picked on the held-out renders: among the saved checkpoints (one per
validation, `trainer.checkpoint_every_n_steps` = the steps of an epoch), the one whose validation has the
lowest rr-MPJPE + wrist error (a bound on the camera-frame joint error, so articulation and distance both
count).

Keeps the network's head only (`nn.landmark_init.save_head`: no hand-model buffers, nothing of MediaPipe) in
src/handrecon/assets/landmark_init.safetensors, and its provenance (data, recipe, command, git commit, seed,
validation metrics, hand-model asset hash) in the file's metadata and in landmark_init.json beside it.

Before writing, the per-joint sigma is calibrated on held-out synthetic records (the recipe's validation
renders, never trained on): a post-hoc temperature per joint, s_j^2 = mean(e^2 / sigma_j^2) over the
coordinates of the root-relative errors e of one half of the records (the Gaussian likelihood's optimum),
stored as the network's `sigma_scale`; the coverage of |e| within 1 and 2 sigma per coordinate (68.3 % /
95.4 % for a calibrated Gaussian) is printed for the other half, before and after.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
from pathlib import Path

import numpy as np
import torch

from handrecon.nn.landmark_init import asset_sha256, load_head, save_head
from handrecon.train.run import load_checkpoint

VAL_SOURCES = [{"ranges": [[0, 500]]}, {"two_hand_prob": 0.6, "ranges": [[0, 500]]}]  # the recipe's val set

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


@torch.no_grad()
def predict_records(net, sources: list) -> dict[str, np.ndarray]:
    """The network alone on the validation records of `sources` (split val): per record its root-relative
    joints, camera-frame wrist (both un-mirrored), per-joint sigma, and the same for the labels and for the
    detector's world landmarks as PnP places them (MediaPipe's 3D)."""
    from handrecon.data.detected_synthetic import open_detected_synthetic

    out: dict[str, list] = {k: [] for k in ("pred", "gt", "mp", "sigma", "index", "slot", "source", "uv_err")}
    for si, src in enumerate(sources):
        ds = open_detected_synthetic(split="val", sources=[src])
        if not len(ds):
            continue
        batch = torch.utils.data.default_collate([ds[i] for i in range(len(ds))])
        pred = net.forward_batch(batch, with_vertices=False)
        flip = torch.where(batch["flipped"], -1.0, 1.0)[:, None, None] * torch.tensor([1.0, 0.0, 0.0]) + \
            torch.tensor([0.0, 1.0, 1.0])
        gt = batch["joints_3d"][:, 0].double()
        out["pred"].append((pred.joints.double() * flip).numpy())
        out["gt"].append((gt * flip).numpy())
        out["mp"].append((batch["det_world"].double() * flip).numpy())
        out["sigma"].append(pred.joint_variance.sqrt().double().numpy())
        out["index"].append(batch["index"].numpy())
        out["slot"].append(np.asarray(ds.records["slot"]))
        out["source"].append(np.full(len(ds), si))
        kp = batch["keypoints_2d"][:, 0, :, :2].double()
        out["uv_err"].append((pred.keypoints_2d.double() - kp).norm(dim=-1).mean(-1).numpy())
    return {k: np.concatenate(v) for k, v in out.items()}


def coverage(err: np.ndarray, sigma: np.ndarray) -> tuple[float, float]:
    """Share (%) of coordinates of the root-relative errors err (N, 21, 3) within 1 and 2 sigma (N, 21),
    the wrist left out (its root-relative error is 0 by construction)."""
    z = np.abs(err[:, 1:]) / sigma[:, 1:, None]
    return float((z <= 1).mean() * 100), float((z <= 2).mean() * 100)


def report(r: dict[str, np.ndarray], scale: np.ndarray | None = None) -> dict:
    """Held-out figures of the network alone (and MediaPipe's placed world landmarks), mm."""
    from handrecon.eval.position_error import pa_mpjpe

    rel = lambda j: j - j[:, :1]  # noqa: E731
    pa = pa_mpjpe(torch.from_numpy(r["pred"]), torch.from_numpy(r["gt"])).numpy()
    pa_mp = pa_mpjpe(torch.from_numpy(r["mp"]), torch.from_numpy(r["gt"])).numpy()
    rr = np.linalg.norm(rel(r["pred"]) - rel(r["gt"]), axis=-1).mean(-1) * 1000
    rr_mp = np.linalg.norm(rel(r["mp"]) - rel(r["gt"]), axis=-1).mean(-1) * 1000
    root = np.linalg.norm(r["pred"][:, 0] - r["gt"][:, 0], axis=-1) * 1000
    depth_rel = np.abs(r["pred"][:, 0, 2] / r["gt"][:, 0, 2] - 1) * 100
    # MRRPE over the two-hand scenes whose both hands gave a record
    mrrpe = []
    key = {(s, i, k): n for n, (s, i, k) in enumerate(zip(r["source"], r["index"], r["slot"], strict=True))}
    for (s, i, k), n in key.items():
        m = key.get((s, i, 1))
        if k == 0 and m is not None:
            d = (r["pred"][m, 0] - r["pred"][n, 0]) - (r["gt"][m, 0] - r["gt"][n, 0])
            mrrpe.append(np.linalg.norm(d) * 1000)
    err = rel(r["pred"]) - rel(r["gt"])
    sigma = r["sigma"] * (1.0 if scale is None else scale)
    c1, c2 = coverage(err, sigma)
    return {"records": len(pa), "pa_mpjpe_mm": float(pa.mean()), "pa_mpjpe_mediapipe_mm": float(pa_mp.mean()),
            "rr_mpjpe_mm": float(rr.mean()), "rr_mpjpe_mediapipe_mm": float(rr_mp.mean()),
            "root_mm": float(np.median(root)), "root_depth_error_pct": float(np.median(depth_rel)),
            "mrrpe_mm": float(np.mean(mrrpe)) if mrrpe else None, "pairs": len(mrrpe),
            "kp2d_px": float(r["uv_err"].mean()), "sigma_mm": float(sigma[:, 1:].mean() * 1000),
            "coverage_1sigma_pct": c1, "coverage_2sigma_pct": c2}


def temperature(r: dict[str, np.ndarray]) -> np.ndarray:
    """Per-joint scale s (21,) of the sigma: s_j^2 = mean(e^2 / sigma_j^2) (Gaussian likelihood's optimum);
    the wrist keeps 1."""
    err = (r["pred"] - r["pred"][:, :1]) - (r["gt"] - r["gt"][:, :1])
    s2 = (err**2 / r["sigma"][..., None] ** 2).mean(axis=(0, 2))
    s = np.sqrt(s2)
    s[0] = 1.0
    return s


def calibrate(net, sources: list) -> tuple[np.ndarray, dict]:
    """(per-joint scale fitted on the even-indexed held-out records, coverage on the odd ones before/after)."""
    r = predict_records(net, sources)
    fit = r["index"] % 2 == 0
    half = lambda m: {k: v[m] for k, v in r.items()}  # noqa: E731
    scale = temperature(half(fit))
    before, after = report(half(~fit)), report(half(~fit), scale)
    return scale, {"fitted_on": int(fit.sum()), "checked_on": int((~fit).sum()),
                   "coverage_before_pct": [before["coverage_1sigma_pct"], before["coverage_2sigma_pct"]],
                   "coverage_after_pct": [after["coverage_1sigma_pct"], after["coverage_2sigma_pct"]],
                   "scale_min_max": [float(scale[1:].min()), float(scale[1:].max())]}


def pick_checkpoint(run_dir: Path) -> tuple[Path, dict]:
    """(the checkpoint of `run_dir` whose step's validation scores best, that validation's metrics)."""
    import re

    rows: dict[int, dict] = {}
    with (run_dir / "csv" / "metrics.csv").open() as f:
        for row in csv.DictReader(f):
            vals = {k.split("/")[-1]: float(v) for k, v in row.items() if k.startswith("val/") and v}
            if "mpjpe_rr_mm" in vals and "root_mm" in vals:
                rows[int(row["step"])] = vals
    best: tuple[float, Path, dict] | None = None
    for ckpt in (run_dir / "checkpoints").glob("epoch=*-step=*.ckpt"):
        step = int(re.search(r"step=(\d+)", ckpt.name).group(1))
        # an epoch's validation is logged at step count - 1 of the checkpoint saved at that epoch's end
        vals = rows.get(step - 1)
        if vals:
            score = vals["mpjpe_rr_mm"] + vals["root_mm"]
            if best is None or score < best[0]:
                best = (score, ckpt, {**vals, "step": step})
    if best is None:
        raise SystemExit(f"{run_dir}: no checkpoint with a logged validation (set trainer.checkpoint_every_n_steps)")
    return best[1], best[2]


def load_any(path: Path):
    """A training checkpoint (.ckpt) or a shipped head file (.safetensors)."""
    return load_head(path)[0] if path.suffix == ".safetensors" else load_checkpoint(path)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("--command", default="handrecon train landmark-init", help="the training command, recorded")
    ap.add_argument("--out", type=Path, default=ASSETS / "landmark_init.safetensors")
    ap.add_argument("--report-only", action="store_true", help="print the held-out figures, write nothing")
    ap.add_argument("--no-calibration", action="store_true", help="ship the sigma as trained")
    args = ap.parse_args()
    torch.set_num_threads(1)
    picked = None
    if args.checkpoint.is_dir():
        args.checkpoint, picked = pick_checkpoint(args.checkpoint)
        print(f"picked {args.checkpoint} on the held-out renders: {picked}")
    net = load_any(args.checkpoint)
    if args.report_only:
        per = {f"source{i}": report(predict_records(net, [src])) for i, src in enumerate(VAL_SOURCES)}
        per["all"] = report(predict_records(net, VAL_SOURCES))
        print(json.dumps(per, indent=1))
        return
    calibration = None
    if not args.no_calibration:
        scale, calibration = calibrate(net, VAL_SOURCES)
        net.sigma_scale.copy_(torch.from_numpy(scale).to(net.sigma_scale))
        print("sigma calibration:", json.dumps(calibration))
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
        "metrics": picked or last_metrics(args.checkpoint.parent.parent),
        "checkpoint": args.checkpoint.name,
        "held_out": report(predict_records(net, VAL_SOURCES)),
        "sigma_calibration": calibration or "none (as trained)",
        "hand_model_asset_sha256": asset_sha256(m["hand_model"]),
        "parameters": int(sum(p.numel() for n, p in net.named_parameters() if n.startswith(("mlp.", "out.")))),
    }
    save_head(net, args.out, options, provenance)
    args.out.with_suffix(".json").write_text(json.dumps(provenance, indent=2) + "\n")
    back, _ = load_head(args.out)
    for k, v in back.state_dict().items():
        if k.startswith(("mlp.", "out.", "sigma_scale")):
            assert torch.equal(v, net.state_dict()[k]), k
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB) and {args.out.with_suffix('.json').name}")


if __name__ == "__main__":
    main()
