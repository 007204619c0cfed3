"""Tiny recipes for the training tests: a few synthetic crops rendered once per session, small backbones."""

from __future__ import annotations

import pytest

from handrecon.train.config import DatasetConfig
from handrecon.train.data import register_dataset

SYNTH = "{size: 96, occluder_prob: 0.0}"
# A small, fast configuration every test can start from (overrides of a bundled recipe).
TINY = [
    "model.backbone=resnet18",
    "model.use_landmarks=false",
    "model.freeze_backbone=true",
    "model.cache_backbone_outputs=true",
    "model.crop_size=64",
    "model.head_opts={hidden: 64, iterations: 2}",
    "data.train={name: tiny_synthetic, split: train, length: 8}",
    "data.val=[{name: tiny_synthetic, split: val, length: 4}]",
    "data.batch_size=4",
    "data.cache=true",
    "trainer.logger=false",
    "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false",
]

_RENDERED: dict[str, list] = {}


def _tiny_synthetic(cfg: DatasetConfig):
    """Synthetic samples (train: indices 0.., val: 500000..) rendered once per test session, held in memory."""
    if cfg.split not in _RENDERED:
        import handrecon.synth  # noqa: F401
        from handrecon.data.synthetic import SyntheticHandDataset
        from handrecon.synth.config import SynthConfig

        start = 0 if cfg.split == "train" else 500_000
        ds = SyntheticHandDataset(SynthConfig(size=96, occluder_prob=0.0), length=8, start=start)
        _RENDERED[cfg.split] = [ds[i] for i in range(8)]
    return _RENDERED[cfg.split][: cfg.length]


register_dataset("tiny_synthetic", _tiny_synthetic)


@pytest.fixture
def tiny(tmp_path):
    """Overrides of `cpu-small` for a tiny run writing into tmp_path."""
    return [*TINY, f"output_dir={tmp_path}"]
