"""Recipes: YAML over the dataclass configs below (OmegaConf), overridable with `key=value`.

A recipe file names what differs from the defaults; `load_recipe` merges defaults <- recipe YAML <-
command-line overrides, checking every key and type against these dataclasses (a typo is an error, not a
silently ignored setting). `trainer` holds keyword arguments of `lightning.Trainer`, so any of Lightning's
flags is reachable as `trainer.<flag>=<value>`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig, OmegaConf

from handrecon.io.errors import InputError


@dataclass
class ModelConfig:
    name: str = "hand_regressor"
    backbone: str = "resnet50"
    backbone_opts: dict[str, Any] = field(default_factory=dict)
    backbone_weights: str | None = None  # a checkpoint file the user gives (ImageNet, ViTPose, ...)
    head: str = "ief"
    head_opts: dict[str, Any] = field(default_factory=dict)
    hand_model: str = "openhand"
    mano_dir: str | None = None
    crop_size: int = 224
    use_landmarks: bool = False
    freeze_backbone: bool = False
    # With a frozen backbone: keep each training / validation sample's backbone outputs in memory after the
    # first epoch (exact when the crops are the same every epoch, as HandCropDataset's seeded jitter is).
    cache_backbone_outputs: bool = False


@dataclass
class DatasetConfig:
    """One dataset: `name` in the data registry, its split, how many samples (from `start`; a synthetic set's
    `start` is an index range of its generator instead of its split), reader options (`root`: its folder)."""

    name: str = "synthetic"
    split: str = "train"
    length: int | None = None
    start: int | None = None
    opts: dict[str, Any] = field(default_factory=dict)


@dataclass
class DataConfig:
    train: DatasetConfig = field(default_factory=DatasetConfig)
    val: list[DatasetConfig] = field(default_factory=list)
    batch_size: int = 32
    val_batch_size: int | None = None
    num_workers: int = 0
    crop_scale: float = 1.6  # crop side / the hand's larger 2D extent
    crop_jitter: float = 0.0  # random shift / scale of the training crops, as a fraction of the side
    cache: bool = False  # keep the cropped samples in memory after their first read (small sets)
    shuffle: bool = True
    mask_size: int = 56  # side of the cropped hand mask in a batch (`hand_mask`, silhouette losses); 0: none


@dataclass
class OptimConfig:
    name: str = "adamw"
    lr: float = 1e-4
    weight_decay: float = 1e-4
    scheduler: str = "constant"  # constant | cosine
    warmup_steps: int = 0


@dataclass
class LossConfig:
    """Weights of the named loss terms (`handrecon.train.losses.LOSS_TERMS`); absent or 0 = not computed."""

    weights: dict[str, float] = field(default_factory=lambda: {"keypoints_3d": 5.0, "keypoints_2d": 5.0})
    # Schedules by term name: a term counts from its start epoch and before its stop epoch (the knowledge-prior
    # paper's MSE data term first, then the NLL: stop_epoch.keypoints_2d_mse = start_epoch.keypoints_2d_nll).
    start_epoch: dict[str, int] = field(default_factory=dict)
    stop_epoch: dict[str, int] = field(default_factory=dict)
    # 3D labels used for this fraction of the training samples only (chosen by sample index; table 3b of
    # the knowledge-prior paper); the rest train from 2D labels.
    supervised_3d_fraction: float = 1.0


@dataclass
class Recipe:
    name: str = "default"
    seed: int = 0
    output_dir: str = "runs"
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    trainer: dict[str, Any] = field(default_factory=lambda: {"max_epochs": 1, "accelerator": "cpu", "devices": 1})


def recipe_names() -> list[str]:
    """The recipes bundled with the package (`handrecon train --list`)."""
    return sorted(p.name[:-5] for p in resources.files("handrecon.train.recipes").iterdir() if p.name.endswith(".yaml"))


def _recipe_text(name_or_path: str) -> tuple[str, str]:
    p = Path(name_or_path).expanduser()
    if p.suffix in (".yaml", ".yml") or p.is_file():
        if not p.is_file():
            raise InputError(p, "no such recipe file")
        return p.read_text(), p.stem
    f = resources.files("handrecon.train.recipes") / f"{name_or_path}.yaml"
    if not f.is_file():
        raise InputError(name_or_path, f"no bundled recipe of this name; bundled: {', '.join(recipe_names())}")
    return f.read_text(), name_or_path


def load_recipe(name_or_path: str | None = None, overrides: list[str] | None = None) -> DictConfig:
    """Defaults <- the recipe (a bundled name or a YAML path) <- `key=value` overrides, type-checked."""
    cfg = OmegaConf.structured(Recipe)
    try:
        if name_or_path is not None:
            text, name = _recipe_text(name_or_path)
            cfg = OmegaConf.merge(cfg, {"name": name}, OmegaConf.create(text))
        if overrides:
            bad = [o for o in overrides if "=" not in o]
            if bad:
                raise InputError(bad[0], "an override must read key=value")
            for o in overrides:
                key, value = o.split("=", 1)
                OmegaConf.update(cfg, key.strip(), yaml.safe_load(value) if value.strip() else None, merge=True)
    except InputError:
        raise
    except Exception as e:  # noqa: BLE001 - OmegaConf's validation errors: unknown key, wrong type
        raise InputError(name_or_path or "<recipe>", " ".join(str(e).split("\n")[:1])) from None
    return cfg


def recipe_from_dict(d: dict) -> DictConfig:
    """A resolved recipe saved beside a checkpoint, validated against the dataclasses again."""
    return OmegaConf.merge(OmegaConf.structured(Recipe), OmegaConf.create(d))


def to_container(cfg: DictConfig) -> dict:
    return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]


def save_recipe(cfg: DictConfig, path: str | Path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(OmegaConf.to_yaml(cfg, resolve=True))
