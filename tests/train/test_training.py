"""Training end to end on tiny synthetic crops: every recipe runs, a batch is overfitted, a resumed run
continues exactly, the checkpoint comes back for inference, evaluation and ONNX export."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from lightning.pytorch.callbacks import Callback

from handrecon.train.config import load_recipe, recipe_names
from handrecon.train.run import fit, load_checkpoint

SMALL_DATA = [
    "data.train={name: tiny_synthetic, split: train, length: 4}",
    "data.val=[{name: tiny_synthetic, split: val, length: 2}]",
    "data.batch_size=2",
    "data.num_workers=0",
    "trainer.logger=false",
    "trainer.enable_progress_bar=false",
    "trainer.accelerator=cpu",
    "trainer.devices=1",
    "trainer.precision=32-true",
]
# Backbones of the GPU recipes too large for a CPU test: the same code with a smaller member of the family.
SMALLER_BACKBONE = {"vit-ief": ["model.backbone=vit_s16", "model.backbone_opts={img_size: 64}", "model.crop_size=64"],
                    "resnet50-ief": ["model.crop_size=64"],
                    "knowledge-prior-resnet50": ["model.backbone=resnet18", "model.crop_size=64"],
                    "wildhands-resnet50": ["model.backbone=resnet18", "model.crop_size=64",
                                           "model.head_opts={conv_channels: [32, 16, 8]}"]}  # fmt: skip
# Recipes over other inputs than image crops: their tiny data.
_TINY_DETECTED = ["data.train={name: tiny_detected, split: train, opts: {length: 4, roll_deg: 30}}",
                  "data.val=[{name: tiny_detected, split: val, opts: {length: 2}}]"]
OWN_DATA = {"landmark-init": _TINY_DETECTED, "landmark-init-depth": _TINY_DETECTED}


class LossRecorder(Callback):
    def __init__(self) -> None:
        self.losses: dict[int, float] = {}

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.losses[trainer.global_step] = float(outputs["loss"])


@pytest.mark.parametrize("recipe", recipe_names())
def test_fast_dev_run_of_every_recipe(recipe, tmp_path):
    cfg = load_recipe(recipe, [*SMALL_DATA, *SMALLER_BACKBONE.get(recipe, []), *OWN_DATA.get(recipe, []),
                               "trainer.fast_dev_run=1",
                               f"output_dir={tmp_path}"])
    rec = LossRecorder()
    trainer = fit(cfg, extra_callbacks=[rec])
    assert trainer.state.finished and len(rec.losses) == 1
    assert all(torch.isfinite(torch.tensor(v)) for v in rec.losses.values())


def test_one_batch_overfit_drives_the_loss_near_zero(tiny):
    # One batch: as many samples as the batch size, the same crops at every step.
    cfg = load_recipe("cpu-small", [*tiny, "data.train.length=4", "trainer.max_steps=300", "trainer.max_epochs=400",
                                    "trainer.limit_val_batches=0", "optim.lr=3e-3", "optim.weight_decay=0",
                                    "loss.weights={keypoints_3d: 5.0, keypoints_2d: 5.0, pose: 1.0}",
                                    "trainer.enable_checkpointing=false"])
    rec = LossRecorder()
    fit(cfg, extra_callbacks=[rec])
    first, last = rec.losses[min(rec.losses)], rec.losses[max(rec.losses)]
    assert last < 0.005 * first, (first, last)


def test_resume_reproduces_the_next_steps_exactly(tiny, tmp_path):
    common = [*tiny, "model.head_opts={hidden: 64, iterations: 2, dropout: 0.5}", "data.crop_jitter=0.1",
              "trainer.limit_val_batches=0", "optim.scheduler=cosine", "optim.warmup_steps=2"]
    full = LossRecorder()
    fit(load_recipe("cpu-small", [*common, "trainer.max_steps=5", "trainer.checkpoint_every_n_steps=3",
                                  "trainer.max_epochs=10", f"output_dir={tmp_path}/a"]), extra_callbacks=[full])
    ckpt = next((tmp_path / "a" / "cpu-small" / "checkpoints").glob("*step=3.ckpt"))
    resumed = LossRecorder()
    fit(load_recipe("cpu-small", [*common, "trainer.max_steps=5", "trainer.max_epochs=10",
                                  f"output_dir={tmp_path}/b"]), resume=ckpt, extra_callbacks=[resumed])
    assert sorted(resumed.losses) == [4, 5]  # steps 4 and 5: the second epoch, its second batch first
    for step in (4, 5):
        assert resumed.losses[step] == full.losses[step], (step, resumed.losses, full.losses)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    from tests.train.conftest import TINY

    cfg = load_recipe("cpu-small", [*TINY, f"output_dir={out}", "trainer.max_steps=2", "trainer.max_epochs=1"])
    fit(cfg)
    return out / "cpu-small" / "checkpoints"


def test_checkpoint_has_its_recipe_and_loads_for_inference(trained):
    assert (trained / "recipe.yaml").is_file()
    model = load_checkpoint(trained / "last.ckpt")
    assert not model.training and model.recipe.model.backbone == "resnet18"
    K = torch.tensor([[80.0, 0, 32], [0, 80, 32], [0, 0, 1]]).expand(2, 3, 3)
    with torch.no_grad():
        p = model(torch.rand(2, 3, 64, 64), K)
    assert p.joints.shape == (2, 21, 3) and p.vertices.shape[0] == 2 and torch.isfinite(p.joints).all()


def test_evaluate_command_writes_the_table(trained, tmp_path):
    from handrecon.cli import main

    rc = main(["evaluate", str(trained / "last.ckpt"), "--dataset", "synthetic", "--split", "val", "--limit", "3",
               "--start", "900000", "--out", str(tmp_path)])
    assert rc == 0
    table = (tmp_path / "metrics.txt").read_text()
    assert "PA-MPJPE [mm]" in table and "2D error [px]" in table


def test_onnx_export_matches_pytorch(trained, tmp_path):
    pytest.importorskip("onnxruntime")
    from handrecon.cli import main

    out = tmp_path / "model.onnx"
    assert main(["export", str(trained / "last.ckpt"), "--out", str(out), "--batch-size", "3"]) == 0
    from handrecon.train.export import verify_onnx

    diffs = verify_onnx(load_checkpoint(trained / "last.ckpt"), out, seed=5)
    assert max(diffs.values()) < 1e-4, diffs


def test_two_process_ddp_on_cpu_completes(tmp_path):
    from tests.train.conftest import TINY

    synth = "{size: 64, occluder_prob: 0.0}"
    data = [f"data.train={{name: synthetic, length: 4, opts: {synth}}}", "data.val=[]", "data.batch_size=2"]
    args = [sys.executable, "-m", "handrecon.cli", "train", "cpu-small", *TINY, *data, f"output_dir={tmp_path}",
            "trainer.strategy=ddp", "trainer.devices=2", "trainer.accelerator=cpu", "trainer.max_steps=2"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PL_DISABLE_FORK": "1"}
    res = subprocess.run(args, capture_output=True, text=True, timeout=300, env=env, cwd=Path(__file__).parents[2])
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stdout.count("checkpoints, recipe.yaml and logs in") == 2  # one line from each process
    assert (tmp_path / "cpu-small" / "checkpoints" / "last.ckpt").is_file()


def test_mixed_precision_with_gradient_clipping_runs_on_cpu(tiny):
    cfg = load_recipe("cpu-small", [*tiny, "model.freeze_backbone=false", "model.cache_backbone_outputs=false",
                                    "trainer.precision=bf16-mixed", "trainer.gradient_clip_val=0.5",
                                    "trainer.max_steps=2", "trainer.limit_val_batches=0",
                                    "trainer.enable_checkpointing=false"])
    rec = LossRecorder()
    trainer = fit(cfg, extra_callbacks=[rec])
    assert trainer.precision == "bf16-mixed" and len(rec.losses) == 2
    assert all(torch.isfinite(torch.tensor(v)) for v in rec.losses.values())
