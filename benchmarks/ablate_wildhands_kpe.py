"""Table 5 of WildHands at small scale: the KPE variants on egocentric synthetic crops.

Every variant trains the same WildHands head (narrow conv stack / MLP / decoders of `wildhands-cpu-small`)
over the same cached 7 x 7 maps of the frozen MediaPipe hand-landmark backbone, from 3D + 2D labels
(eq. 1-2, ARCTIC weights), for the same steps and seeds; the held-out synthetic range (indices from
1,000,000) is evaluated: root-relative MPJPE, absolute MPJPE (camera frame, mm) and the 2D error (crop px).

"KPE w/ input" (`input`) adds the dense KPE to the image through a zero-initialised 1 x 1 convolution, so its
map depends on K and cannot be cached: that row runs the same frozen backbone on the crops at every step,
with gradients through it to the 1 x 1 convolution (the head and that convolution train, the backbone does
not). The setups are otherwise identical: a frozen backbone in eval mode gives the other rows the same map
whether cached or recomputed, and the script checks that the `input` model's map at initialisation equals the
cached one. That row costs a backbone forward and backward per sample and step (about 30x a cached row).

    OMP_NUM_THREADS=1 nice python benchmarks/ablate_wildhands_kpe.py [--train 400] [--val 100] [--steps 300]
        [--seeds 0 1] [--variants none input no_intrinsics dense sparse]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import handrecon.synth  # noqa: F401 - imported before data.synthetic (the two import each other)
from handrecon.data.synthetic import SyntheticHandDataset
from handrecon.nn.wildhands import WildHands
from handrecon.synth.config import SynthConfig
from handrecon.train.data import HandCropDataset, collate
from handrecon.train.losses import compute_losses

WEIGHTS = {"pose": 10.0, "shape": 0.001, "keypoints_3d": 5.0, "keypoints_2d": 5.0}
HEAD = {"conv_channels": [128, 64, 32], "feature_dim": 256, "hidden": 256, "iterations": 3}
S = 224


def crops(start: int, n: int) -> dict:
    ds = HandCropDataset(SyntheticHandDataset(SynthConfig(ego_prob=1.0), length=n, start=start), size=S,
                         scale=1.5, jitter=0.05 if start == 0 else 0.0)
    return collate([ds[i] for i in range(n)])


def build(kpe: str, seed: int) -> WildHands:
    torch.manual_seed(seed)
    return WildHands("mediapipe_hand", crop_size=S, freeze_backbone=True, head_opts={"kpe": kpe, **HEAD})


@torch.no_grad()
def maps(batch: dict) -> torch.Tensor:
    m = build("none", 0).eval()
    imgs = batch["image"].float() / 255.0
    return torch.cat([m.backbone_outputs(imgs[i:i + 16]) for i in range(0, len(imgs), 16)])


def pick(batch: dict, idx: torch.Tensor) -> dict:
    return {k: (v[idx] if torch.is_tensor(v) and v.shape[:1] == batch["K"].shape[:1] else v) for k, v in batch.items()}


def forward(m: WildHands, b: dict, maps: torch.Tensor):
    """The prediction from the cached maps, or from the crops themselves for kpe 'input'."""
    if m.kpe == "input":
        return m(b["image"].float() / 255.0, b["K"], with_vertices=False, crop_A=b["crop_A"])
    return m(None, b["K"], backbone_outputs=maps, with_vertices=False, crop_A=b["crop_A"])


@torch.no_grad()
def check_same_setup(m: WildHands, tr: dict, ftr: torch.Tensor) -> None:
    """The `input` model before training sees exactly the cached map (its 1 x 1 convolution starts at 0)."""
    k = min(4, len(ftr))
    got = m.feature_map(tr["image"][:k].float() / 255.0, tr["K"][:k])
    if not torch.allclose(got, ftr[:k], atol=1e-4):
        raise RuntimeError(f"the uncached map differs from the cached one by {(got - ftr[:k]).abs().max():.2e}")


def train_eval(kpe: str, seed: int, tr: dict, ftr: torch.Tensor, va: dict, fva: torch.Tensor, steps: int,
               bs: int) -> tuple[float, float, float]:
    m = build(kpe, seed)
    if kpe == "input":
        check_same_setup(m, tr, ftr)
    m.train()
    opt = torch.optim.Adam([p for p in m.parameters() if p.requires_grad], lr=1e-3, weight_decay=1e-4)
    g = torch.Generator().manual_seed(seed)
    n = ftr.shape[0]
    ctx = {"crop_size": S, "pose_mean": m.hand_model.pose_mean}
    for _ in range(steps):
        idx = torch.randperm(n, generator=g)[:bs]
        b = pick(tr, idx)
        pred = forward(m, b, ftr[idx])
        loss, _ = compute_losses(pred, b, WEIGHTS, **ctx)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()
    m.eval()
    with torch.no_grad():  # in chunks: the `input` row runs the backbone
        parts = [forward(m, pick(va, torch.arange(i, min(i + 16, len(fva)))), fva[i:i + 16])
                 for i in range(0, len(fva), 16)]
    joints = torch.cat([q.joints for q in parts])
    kp2d = torch.cat([q.keypoints_2d for q in parts])
    gt = va["joints_3d"][:, 0].to(joints)
    rr = ((joints - joints[:, :1]) - (gt - gt[:, :1])).norm(dim=-1).mean().item() * 1000
    ab = (joints - gt).norm(dim=-1).mean().item() * 1000
    kp = va["keypoints_2d"][:, 0, :, :2].to(joints)
    px = (kp2d - kp).norm(dim=-1).mean().item()
    return rr, ab, px


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--train", type=int, default=400)
    ap.add_argument("--val", type=int, default=100)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--variants", nargs="+", default=["none", "input", "no_intrinsics", "dense", "sparse"])
    a = ap.parse_args()
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    tr, va = crops(0, a.train), crops(1_000_000, a.val)
    ftr, fva = maps(tr), maps(va)
    print(f"data: {a.train} train / {a.val} val egocentric synthetic crops, maps {tuple(ftr.shape[1:])}, "
          f"{time.perf_counter() - t0:.0f} s", flush=True)
    print(f"{'KPE':<15}{'rr-MPJPE mm':>22}{'abs MPJPE mm':>22}{'2D px':>18}   ({a.steps} steps x {a.batch})")
    for kpe in a.variants:
        t1 = time.perf_counter()
        rows = np.array([train_eval(kpe, s, tr, ftr, va, fva, a.steps, a.batch) for s in a.seeds])
        mean, sd = rows.mean(0), rows.std(0)
        cells = "".join(f"{m:>14.1f} +- {d:<5.1f}" for m, d in zip(mean, sd, strict=True))
        print(f"{kpe:<15}{cells}   seeds {a.seeds}: {rows.round(1).tolist()} ({time.perf_counter() - t1:.0f} s)",
              flush=True)


if __name__ == "__main__":
    main()
