"""`HandReconModule`: the one LightningModule of handrecon.

It builds the network named by the recipe's `model` section, computes the recipe's named loss terms
(`handrecon.train.losses`, i.e. the losses of `priors/`) with the recipe's weights, and logs every term.
Validation reports the metrics of `eval/`: root-relative MPJPE and PA-MPJPE (mm) where 3D labels exist,
the 2D keypoint error in crop pixels where 2D labels exist, per validation set.
"""

from __future__ import annotations

import math

import lightning.pytorch as pl
import torch
from omegaconf import DictConfig

from handrecon.eval.keypoints_2d import l2_error_2d
from handrecon.eval.position_error import pa_mpjpe, root_relative_mpjpe
from handrecon.nn.models import build_model
from handrecon.nn.prediction import HandPrediction
from handrecon.train import (
    mixing,  # noqa: F401 - registers the `mixed` dataset
    paper_losses,  # noqa: F401 - registers the papers' loss terms
    placement_losses,  # noqa: F401 - registers root_position
    variance_losses,  # noqa: F401 - registers joint_variance_nll
)
from handrecon.train.config import recipe_from_dict, to_container
from handrecon.train.losses import NEEDS_VERTICES, check_weights, compute_losses


def model_from_recipe(cfg: DictConfig) -> torch.nn.Module:
    m = cfg.model
    model = build_model(
        m.name,
        backbone=m.backbone,
        backbone_opts=dict(m.backbone_opts),
        head=m.head,
        head_opts=dict(m.head_opts),
        hand_model=m.hand_model,
        mano_dir=m.mano_dir,
        crop_size=m.crop_size,
        use_landmarks=m.use_landmarks,
        freeze_backbone=m.freeze_backbone,
    )
    if m.backbone_weights:
        from handrecon.nn.backbones import load_backbone_weights

        load_backbone_weights(model.backbone, m.backbone_weights)
    return model


def batch_metrics(pred: HandPrediction, batch: dict) -> dict[str, torch.Tensor]:
    """Per-hand metrics (B,) of the `eval/` package; NaN where the label is missing."""
    out = {}
    valid3 = batch["joints_3d_valid"][:, 0]
    if valid3.any():
        gt = batch["joints_3d"][:, 0].to(pred.joints)
        v = valid3 & valid3[:, :1]
        has = v.sum(1) >= 3
        nan = torch.full((gt.shape[0],), math.nan, device=gt.device)
        pj = pred.joints.detach()
        out["mpjpe_rr_mm"] = torch.where(has, root_relative_mpjpe(pj, gt, v), nan)
        out["pa_mpjpe_mm"] = torch.where(has, pa_mpjpe(pj, gt, v), nan)
        out["root_mm"] = torch.where(v[:, 0], 1000 * (pj[:, 0] - gt[:, 0]).norm(dim=-1), nan)  # in the camera
    kp = batch["keypoints_2d"][:, 0]
    v2 = (kp[..., 2] > 0) & batch["has_keypoints_2d"][:, 0, None]
    if v2.any():
        err = l2_error_2d(pred.keypoints_2d.detach(), kp[..., :2].to(pred.keypoints_2d), v2)
        out["kp2d_px"] = torch.where(v2.any(1), err, torch.full_like(err, math.nan))
    return out


class HandReconModule(pl.LightningModule):
    def __init__(self, recipe: dict) -> None:
        super().__init__()
        self.save_hyperparameters({"recipe": recipe})
        self.cfg = recipe_from_dict(recipe)
        check_weights(self.cfg.loss.weights)
        self.model = model_from_recipe(self.cfg)
        self.val_names = [f"{v.name}_{v.split}" for v in self.cfg.data.val]
        self._cache_outputs = bool(self.cfg.model.cache_backbone_outputs and self.cfg.model.freeze_backbone)
        self._outputs_cache: dict[tuple[str, int], torch.Tensor] = {}

    @classmethod
    def from_recipe(cls, cfg: DictConfig) -> HandReconModule:
        return cls(to_container(cfg))

    def forward(self, images: torch.Tensor, K: torch.Tensor) -> HandPrediction:
        return self.model(images, K)

    def _predict(self, batch: dict, stage: str = "train") -> HandPrediction:
        verts = stage != "train" or any(w and k in NEEDS_VERTICES for k, w in self.cfg.loss.weights.items())
        if getattr(self.model, "reads_detections", False):  # a network over the detector's outputs, no image
            return self.model.forward_batch(batch, with_vertices=verts)
        extra = {"crop_A": batch["crop_A"]} if getattr(self.model, "uses_crop_transform", False) else {}
        if not self._cache_outputs or "index" not in batch:
            return self.model(batch["image"].float() / 255.0, batch["K"], with_vertices=verts, **extra)
        keys = [(stage, int(i)) for i in batch["index"]]
        missing = [k for k in keys if k not in self._outputs_cache]
        if missing:
            with torch.no_grad():
                out = self.model.backbone_outputs(batch["image"].float() / 255.0)
            for k, o in zip(keys, out, strict=True):
                self._outputs_cache[k] = o.detach()
        outputs = torch.stack([self._outputs_cache[k] for k in keys])
        return self.model(None, batch["K"], backbone_outputs=outputs, with_vertices=verts, **extra)

    def active_weights(self) -> dict[str, float]:
        """The loss weights of the current epoch (`loss.start_epoch` / `loss.stop_epoch`)."""
        e = self.current_epoch if self._trainer is not None else 0
        lc = self.cfg.loss
        return {k: (w if lc.start_epoch.get(k, 0) <= e < lc.stop_epoch.get(k, 1 << 30) else 0.0)
                for k, w in lc.weights.items()}

    def _with_3d_fraction(self, batch: dict) -> dict:
        """3D labels kept for `loss.supervised_3d_fraction` of the samples (a fixed hash of their index)."""
        f = float(self.cfg.loss.supervised_3d_fraction)
        if f >= 1.0 or "index" not in batch:
            return batch
        idx = torch.as_tensor(batch["index"], device=batch["joints_3d_valid"].device).long()
        keep = ((idx * 2654435761) % 1000).float() < f * 1000
        b = dict(batch)
        b["joints_3d_valid"] = batch["joints_3d_valid"] & keep[:, None, None]
        for k in ("has_pose", "has_betas"):
            if k in b:
                b[k] = batch[k] & keep[:, None]
        return b

    def _losses(self, batch: dict) -> tuple[HandPrediction, torch.Tensor, dict[str, torch.Tensor]]:
        pred = self._predict(batch)
        ctx = {"crop_size": self.cfg.model.crop_size, "pose_mean": self.model.hand_model.pose_mean,
               "hand_model": self.model.hand_model}
        total, terms = compute_losses(pred, batch, self.active_weights(), **ctx)
        return pred, total, terms

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        _, total, terms = self._losses(self._with_3d_fraction(batch))
        bs = batch["image"].shape[0]
        self.log("train/loss", total, prog_bar=True, batch_size=bs)
        for k, v in terms.items():
            self.log(f"train/{k}", v, batch_size=bs)
        return total

    def validation_step(self, batch: dict, batch_idx: int, dataloader_idx: int = 0) -> None:
        name = self.val_names[dataloader_idx] if dataloader_idx < len(self.val_names) else str(dataloader_idx)
        pred = self._predict(batch, f"val{dataloader_idx}")
        for k, v in batch_metrics(pred, batch).items():
            ok = ~torch.isnan(v)
            if ok.any():
                self.log(f"val/{name}/{k}", v[ok].mean(), batch_size=int(ok.sum()), add_dataloader_idx=False,
                         sync_dist=True)

    def configure_optimizers(self):
        o = self.cfg.optim
        params = [p for p in self.model.parameters() if p.requires_grad]
        if o.name == "adamw":
            opt = torch.optim.AdamW(params, lr=o.lr, weight_decay=o.weight_decay)
        elif o.name == "adam":
            opt = torch.optim.Adam(params, lr=o.lr, weight_decay=o.weight_decay)
        elif o.name == "sgd":
            opt = torch.optim.SGD(params, lr=o.lr, momentum=0.9, weight_decay=o.weight_decay)
        else:
            raise ValueError(f"unknown optimizer {o.name!r}; available: adamw, adam, sgd")
        total = self.trainer.estimated_stepping_batches if self.trainer is not None else 1
        total = max(int(total) if math.isfinite(total) else 1, 1)
        warm = max(int(o.warmup_steps), 0)

        def factor(step: int) -> float:
            if warm and step < warm:
                return (step + 1) / warm
            if o.scheduler == "cosine":
                t = min((step - warm) / max(total - warm, 1), 1.0)
                return 0.5 * (1 + math.cos(math.pi * t))
            if o.scheduler != "constant":
                raise ValueError(f"unknown scheduler {o.scheduler!r}; available: constant, cosine")
            return 1.0

        sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
