"""Running a recipe: `fit` builds the Lightning trainer (checkpoints, resolved recipe beside them,
TensorBoard and CSV logs, exact resume), `load_checkpoint` gives back a network ready for inference."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from omegaconf import DictConfig

from handrecon.io.errors import InputError
from handrecon.train.config import recipe_from_dict, save_recipe, to_container
from handrecon.train.data import HandDataModule
from handrecon.train.module import HandReconModule

RECIPE_FILE = "recipe.yaml"


class RNGStateCallback(Callback):
    """Stores the Python, NumPy and torch generators in each checkpoint and puts them back when training
    resumes (at train start, after everything that restoring itself may draw), so dropout and any random
    augmentation continue exactly where the interrupted run was."""

    def __init__(self) -> None:
        self._pending: dict[str, Any] | None = None

    def state_dict(self) -> dict[str, Any]:
        name, keys, pos, has_gauss, gauss = np.random.get_state()
        # Plain types and tensors only: checkpoints load with torch.load(weights_only=True).
        numpy_state = [name, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(gauss)]
        state = {"python": random.getstate(), "numpy": numpy_state, "torch": torch.get_rng_state()}
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._pending = state

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._pending is None:
            return
        s, self._pending = self._pending, None
        random.setstate(s["python"])
        name, keys, pos, has_gauss, gauss = s["numpy"]
        np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
        torch.set_rng_state(s["torch"])
        if "cuda" in s and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(s["cuda"])


class SaveRecipeCallback(Callback):
    """Writes the resolved recipe beside the checkpoints when training starts."""

    def __init__(self, cfg: DictConfig, directory: Path) -> None:
        self.cfg, self.directory = cfg, directory

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.is_global_zero:
            save_recipe(self.cfg, self.directory / RECIPE_FILE)


def run_dir(cfg: DictConfig) -> Path:
    return Path(cfg.output_dir).expanduser() / cfg.name


def build_trainer(cfg: DictConfig, extra_callbacks: list[Callback] | None = None) -> pl.Trainer:
    out = run_dir(cfg)
    ckpt_dir = out / "checkpoints"
    kwargs = dict(to_container(cfg)["trainer"])
    every = kwargs.pop("checkpoint_every_n_steps", None)
    callbacks: list[Callback] = [SaveRecipeCallback(cfg, ckpt_dir), RNGStateCallback(), *(extra_callbacks or [])]
    if kwargs.get("enable_checkpointing", True):
        callbacks.insert(0, ModelCheckpoint(dirpath=ckpt_dir, save_last=True, save_top_k=-1 if every else 1,
                                            every_n_train_steps=every, filename="{epoch}-{step}"))
    if kwargs.pop("logger", True) is False:
        loggers: list | bool = False
    else:
        loggers = [TensorBoardLogger(str(out), name="tensorboard", version=""),
                   CSVLogger(str(out), name="csv", version="")]
    kwargs.setdefault("use_distributed_sampler", False)  # ResumableLoader shards by rank itself
    kwargs.setdefault("default_root_dir", str(out))
    return pl.Trainer(callbacks=callbacks, logger=loggers, **kwargs)


def fit(cfg: DictConfig, resume: str | Path | None = None, extra_callbacks: list[Callback] | None = None
        ) -> pl.Trainer:
    """Train the recipe `cfg`; `resume` continues from a checkpoint exactly (optimizer, scheduler, step, RNG,
    data position)."""
    pl.seed_everything(int(cfg.seed), workers=True, verbose=False)
    module = HandReconModule.from_recipe(cfg)
    data = HandDataModule(cfg.data, cfg.model.crop_size, int(cfg.seed))
    trainer = build_trainer(cfg, extra_callbacks)
    trainer.fit(module, datamodule=data, ckpt_path=str(resume) if resume else None)
    return trainer


def read_checkpoint_recipe(path: str | Path) -> tuple[DictConfig, dict]:
    path = Path(path).expanduser()
    if not path.is_file():
        raise InputError(path, "no such checkpoint file")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
        recipe = ckpt["hyper_parameters"]["recipe"]
    except Exception as e:  # noqa: BLE001 - any failure means it is not one of our checkpoints
        raise InputError(path, f"not a handrecon training checkpoint ({type(e).__name__}: {e})") from None
    return recipe_from_dict(recipe), ckpt


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> torch.nn.Module:
    """The trained network of a checkpoint, in eval mode: `model(images (B,3,S,S) in [0,1], K) -> HandPrediction`.
    `model.recipe` is the recipe it was trained with."""
    cfg, ckpt = read_checkpoint_recipe(path)
    cfg.model.backbone_weights = None  # the checkpoint holds every weight
    module = HandReconModule(to_container(cfg))
    module.load_state_dict(ckpt["state_dict"])
    model = module.model.to(device).eval()
    model.recipe = cfg
    return model
