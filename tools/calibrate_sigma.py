"""Calibrate the detector's per-joint 2D uncertainty on synthetic renders with exact labels.

Model (handrecon.detect.uncertainty): log sigma0_j = log(a_j s) + w . f_j for one detection pass, and
sigma_j^2 = sigma0_j^2 + (c spread_j)^2 with test-time augmentations, where s is the hand's size in
pixels, f_j the single-pass difficulty features and spread_j the landmark spread over augmentations.
Both variants (21 floors a_j, weights w, and the gain c) maximise the likelihood of the isotropic 2D
Gaussian model, NLL = sum [2 log sigma + |e|^2 / (2 sigma^2)], of the detector's errors e on renders of
handrecon's synthetic engine (exocentric and egocentric, with occluders, never evaluation photos). The
errors are those of the first detection pass, which both variants report. A held-out part of the renders
measures the calibration: for a calibrated isotropic 2D Gaussian, 39.3 % of errors fall within 1 sigma
and 86.5 % within 2 sigma.

Run: python tools/calibrate_sigma.py [--n 600] -> src/handrecon/assets/sigma_calibration.json
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from handrecon.detect.mediapipe_hands import MediaPipeHands, TTAConfig
from handrecon.detect.uncertainty import FEATURES, SigmaModel, sigma_features, sigma_from_features
from handrecon.synth import SynthConfig, SynthEngine

OUT = Path(__file__).resolve().parents[1] / "src" / "handrecon" / "assets" / "sigma_calibration.json"
SIDES = ("right", "left")


def collect(n: int, seed: int, size: int, passes: int) -> dict[str, np.ndarray]:
    """Detector errors, spreads and hand sizes on renders, for the hands the detector found."""
    detector = MediaPipeHands(max_hands=2)
    errs, spreads, sizes, feats = [], [], [], []
    for ego in (0.0, 1.0):
        engine = SynthEngine(SynthConfig(size=size, seed=seed + int(ego), ego_prob=ego, two_hand_prob=0.2))
        for i in range(n // 2):
            s = engine.sample(i)
            for d in detector.detect(s.image, TTAConfig(passes=passes, seed=i)):
                if d.tta_spread is None:
                    continue
                # the labelled hand of the same side nearest to the detection
                best = None
                for k in range(2):
                    if s.side[k] < 0 or SIDES[int(s.side[k])] != d.handedness:
                        continue
                    e = np.linalg.norm(d.keypoints - s.joints2d[k], axis=1)
                    if best is None or e.mean() < best[0].mean():
                        best = (e, k)
                if best is None or best[0].mean() > 0.5 * d.size_px:
                    continue
                errs.append(best[0])
                spreads.append(d.tta_spread)
                sizes.append(d.size_px)
                feats.append(sigma_features(d))
    return {"err": np.array(errs), "spread": np.array(spreads), "size": np.array(sizes), "feats": np.array(feats)}


def fit(data: dict[str, np.ndarray], use_spread: bool, iters: int = 800, gross: float = 0.25) -> SigmaModel:
    """Maximum likelihood, leaving out gross failures (errors above `gross` x hand size: a wrong finger or
    a lost hand, which no Gaussian describes); the coverage is still measured on every error."""
    keep = torch.as_tensor(data["err"] <= gross * data["size"][:, None])
    e2 = torch.as_tensor(data["err"] ** 2)
    sp = torch.as_tensor(data["spread"])
    f = torch.as_tensor(data["feats"])
    s = torch.as_tensor(data["size"])[:, None]
    log_a = torch.full((21,), np.log(0.03), dtype=torch.float64, requires_grad=True)
    w = torch.zeros(len(FEATURES), dtype=torch.float64, requires_grad=True)
    log_c = torch.zeros((), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([log_a, w, log_c] if use_spread else [log_a, w], lr=0.05)
    for _ in range(iters):
        opt.zero_grad()
        var = torch.exp(2 * (log_a + torch.log(s) + f @ w))
        if use_spread:
            var = var + (log_c.exp() * sp) ** 2
        nll = ((torch.log(var) + e2 / (2 * var)) * keep).sum() / keep.sum()  # 2 log sigma = log var
        nll.backward()
        opt.step()
    return SigmaModel(
        floor=tuple(np.round(log_a.exp().detach().numpy(), 5).tolist()),
        feature_weights=tuple(np.round(w.detach().numpy(), 4).tolist()),
        spread_gain=round(float(log_c.detach().exp()), 4) if use_spread else 0.0,
    )


def coverage(data: dict[str, np.ndarray], model: SigmaModel) -> tuple[float, float]:
    spread = data["spread"] if model.spread_gain > 0 else None
    r = data["err"] / sigma_from_features(data["size"], data["feats"], model, spread)
    return float((r <= 1).mean()), float((r <= 2).mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=600, help="renders (half exocentric, half egocentric)")
    ap.add_argument("--seed", type=int, default=77000)
    ap.add_argument("--size", type=int, default=384)
    ap.add_argument("--passes", type=int, default=2)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    data = collect(args.n, args.seed, args.size, args.passes)
    m = len(data["err"])
    perm = np.random.default_rng(0).permutation(m)
    cut = int(0.7 * m)
    train = {k: v[perm[:cut]] for k, v in data.items()}
    held = {k: v[perm[cut:]] for k, v in data.items()}
    gross = float((held["err"] > 0.25 * held["size"][:, None]).mean())
    result: dict = {
        "source": f"tools/calibrate_sigma.py: {m} detected hands in {args.n} synthetic renders ({args.size} px, "
        f"exo and ego; spread over {args.passes} TTA passes), seed {args.seed}",
        "features": list(FEATURES),
    }
    for name, use_spread in (("single_pass", False), ("tta", True)):
        model = fit(train, use_spread)
        c1, c2 = coverage(held, model)
        result[name] = {
            **asdict(model),
            "held_out": {
                "hands": m - cut,
                "within_1_sigma": round(c1, 3),
                "within_2_sigma": round(c2, 3),
                "gross_errors": round(gross, 3),
            },
        }
    result["ideal"] = {"within_1_sigma": 0.393, "within_2_sigma": 0.865}
    args.out.write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
