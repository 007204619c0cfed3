"""Evaluating a trained checkpoint on a dataset: the papers' tables (metrics of `eval/`) and submission files.

Predictions are mapped back to each source image: 3D to the image's camera (crops change only the
intrinsics; a mirrored left hand is mirrored back), 2D keypoints to the image's pixels. Where the dataset
has 3D joints the table has the `hand_metrics` columns (MPJPE, root-relative, PA-MPJPE, scale-translation
aligned, PA-AUC; vertices too when the dataset has them); where it has 2D keypoints, the 2D error and PCK
in the image's pixels.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from handrecon.eval.hand_metrics import hand_metrics
from handrecon.eval.keypoints_2d import l2_error_2d
from handrecon.eval.report import MetricReport
from handrecon.train.config import DatasetConfig
from handrecon.train.data import HandCropDataset, collate, open_dataset


@dataclass
class Evaluation:
    report: MetricReport
    joints: np.ndarray  # (N, 21, 3) camera frame of each source image, OpenPose-21
    vertices: np.ndarray  # (N, V, 3)
    keypoints_2d: np.ndarray  # (N, 21, 2) source image pixels
    sample_ids: list[str] = field(default_factory=list)


def _unflip(x: torch.Tensor, flipped: torch.Tensor) -> torch.Tensor:
    sign = torch.where(flipped, -1.0, 1.0).to(x)[:, None, None]
    return torch.cat([x[..., :1] * sign, x[..., 1:]], -1)


@torch.no_grad()
def evaluate_model(model: torch.nn.Module, dataset_cfg: DatasetConfig, batch_size: int = 16,
                   crop_scale: float = 1.6, name: str = "") -> Evaluation:
    crops = HandCropDataset(open_dataset(dataset_cfg), model.crop_size, crop_scale)
    loader = DataLoader(crops, batch_size=batch_size, shuffle=False, collate_fn=collate)
    report = MetricReport(name or f"{dataset_cfg.name} {dataset_cfg.split}")
    dev = next(model.parameters()).device
    J, V, P, ids = [], [], [], []
    for batch in loader:
        pred = model(batch["image"].to(dev).float() / 255.0, batch["K"].to(dev))
        flipped = batch["flipped"]
        joints = _unflip(pred.joints.cpu(), flipped)
        verts = _unflip(pred.vertices.cpu(), flipped)
        A_inv = torch.linalg.inv(batch["crop_A"].double())
        kp = pred.keypoints_2d.cpu().double()
        kp_img = (kp @ A_inv[:, :2, :2].transpose(1, 2) + A_inv[:, None, :2, 2]).float()
        gt3, v3 = batch["joints_3d"][:, 0], batch["joints_3d_valid"][:, 0]
        gt3 = _unflip(gt3, flipped)
        has3 = v3.sum(1) >= 3
        if has3.any():
            m = hand_metrics(joints[has3], gt3[has3], joint_valid=v3[has3])
            for k, vals in m.items():
                full = torch.full((len(has3),), float("nan"), dtype=vals.dtype)
                full[has3] = vals
                report.add(k, full)
        else:
            report.add("PA-MPJPE [mm]", torch.full((len(has3),), float("nan")))
        kp_gt = batch["keypoints_2d"][:, 0].double()
        kp_gt_img = (kp_gt[..., :2] @ A_inv[:, :2, :2].transpose(1, 2) + A_inv[:, None, :2, 2]).float()
        v2 = (kp_gt[..., 2] > 0) & batch["has_keypoints_2d"][:, 0, None]
        report.add("2D error [px]", torch.where(v2.any(1), l2_error_2d(kp_img, kp_gt_img, v2), float("nan")))
        J.append(joints.numpy())
        V.append(verts.numpy())
        P.append(kp_img.numpy())
        ids += list(batch["sample_id"])
    return Evaluation(report, np.concatenate(J), np.concatenate(V), np.concatenate(P), ids)


def write_evaluation(ev: Evaluation, out_dir: str | Path) -> list[Path]:
    """metrics.txt (the table), metrics.json (summary and per-sample values)."""
    from handrecon.io.atomic import write_json_atomic, write_text_atomic

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    d = ev.report.to_dict(include_values=True)
    d["sample_ids"] = ev.sample_ids
    return [
        write_text_atomic(out / "metrics.txt", ev.report.format_table() + "\n"),
        write_json_atomic(out / "metrics.json", json.loads(json.dumps(d))),
    ]
