"""Tiny recipes for the training tests: a few synthetic crops rendered once per session, small backbones."""

from __future__ import annotations

import pytest
import torch

from handrecon.data import register_dataset

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

# One intra-op thread: on a shared machine, OpenMP threads waiting for each other cost far more than they give.
torch.set_num_threads(1)

_RENDERED: dict[str, list] = {}


def _tiny_synthetic(root, split: str = "train", **options):
    """Synthetic samples (train: indices 0.., val: 500000..) rendered once per test session, held in memory."""
    if split not in _RENDERED:
        import handrecon.synth  # noqa: F401
        from handrecon.data.synthetic import SyntheticHandDataset
        from handrecon.synth.config import SynthConfig

        start = 0 if split == "train" else 500_000
        ds = SyntheticHandDataset(SynthConfig(size=96, occluder_prob=0.0), length=8, start=start)
        _RENDERED[split] = [ds[i] for i in range(8)]
    return _RENDERED[split]


register_dataset("tiny_synthetic", _tiny_synthetic, overwrite=True)


def _tiny_detected(root, split: str = "train", length: int = 8, **options):
    """Detector records without rendering (`tests.nn.landmark_records`) for the landmark network's recipe."""
    from handrecon.data.detected_synthetic import DetectedSyntheticDataset
    from tests.nn.landmark_records import fake_records

    return DetectedSyntheticDataset(fake_records(length, seed=0 if split == "train" else 1),
                                    roll_deg=float(options.get("roll_deg", 0.0)))


register_dataset("tiny_detected", _tiny_detected, overwrite=True)


@pytest.fixture
def tiny(tmp_path):
    """Overrides of `cpu-small` for a tiny run writing into tmp_path."""
    return [*TINY, f"output_dir={tmp_path}"]
