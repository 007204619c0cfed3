"""The command line loads only what the chosen command needs: `--help` and the parser never import torch."""

from __future__ import annotations

import subprocess
import sys

import pytest

PROBE = """
import sys
from handrecon.cli import main
try:
    main({argv!r})
except SystemExit:
    pass
print("torch" in sys.modules, "mediapipe" in sys.modules)
"""


@pytest.mark.parametrize("argv", [["--help"], ["reconstruct", "--help"], ["detect", "--help"]])
def test_help_imports_neither_torch_nor_mediapipe(argv):
    r = subprocess.run([sys.executable, "-c", PROBE.format(argv=argv)], capture_output=True, text=True, timeout=120)
    assert r.stdout.strip().splitlines()[-1] == "False False", r.stdout + r.stderr
    assert "usage: handrecon" in r.stdout


PARENT_PROBE = """
import sys
from pathlib import Path
import handrecon.pipeline.batch as batch
from handrecon.pipeline.batch import InputOutcome

def pool(job, inputs, stems, workers):  # the workers' side, left out: only the parent is probed
    for i, p in enumerate(inputs):
        yield InputOutcome(i, True, f"{p}: done")

batch.run_pool = pool
batch.start_worker_server = lambda *args, **kwargs: None
from handrecon.cli import main
folder = Path(sys.argv[1])
code = main(["reconstruct", str(folder), "--out", str(folder / "out"), "--workers", "2", "-q"])
print(code, "torch" in sys.modules, "mediapipe" in sys.modules, "cv2" in sys.modules)
"""


def test_the_parent_of_a_worker_pool_imports_neither_torch_nor_mediapipe(tmp_path):
    for name in ("a.jpg", "b.jpg"):
        (tmp_path / name).write_bytes(b"only named, never read by the parent")
    r = subprocess.run(
        [sys.executable, "-c", PARENT_PROBE, str(tmp_path)], capture_output=True, text=True, timeout=120
    )
    assert r.stdout.strip().splitlines()[-1] == "0 False False False", r.stdout + r.stderr


@pytest.mark.parametrize(
    "module, heavy",
    [
        ("handrecon.io", "torch"),  # its names are loaded on first use
        ("handrecon.io.errors", "torch"),
        ("handrecon.io.atomic", "torch"),
        ("handrecon.commands.synth", "torch"),
        ("handrecon.pipeline.naming", "torch"),
        ("handrecon.pipeline.detection_settings", "torch"),
        ("handrecon.geometry.topology", "scipy.sparse.csgraph"),
    ],
)
def test_modules_load_without_what_they_do_not_need_at_import(module, heavy):
    code = f"import sys, {module}; print({heavy!r} in sys.modules)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.stdout.strip() == "False", r.stdout + r.stderr


PHOTO_RUN_PROBE = """
import sys
from handrecon.cli import main
code = main(["reconstruct", sys.argv[1], "--out", sys.argv[2], "--workers", "1", "-q"])
loaded = [m for m in sys.modules if any(m == h or m.startswith(h + ".") for h in sys.argv[3:])]
print(code, sorted(loaded))
"""

# Modules a photo run never needs: the video path (tracking pulls in SciPy's optimiser), training, data sets,
# synthetic data, evaluation, the networks other than the fit's start (`handrecon.nn.landmark_init`), and the
# losses of the papers the photo fit does not use.
NOT_FOR_PHOTOS = [
    "handrecon.pipeline.video", "handrecon.pipeline.tracking", "handrecon.pipeline.overlay_writer", "handrecon.train",
    "handrecon.synth", "handrecon.eval", "handrecon.data", "handrecon.nn.backbones", "handrecon.nn.models",
    "handrecon.nn.wildhands", "handrecon.nn.knowledge_regressor", "handrecon.nn.hand_regressor",
    "handrecon.nn.kpe", "handrecon.nn.heads", "handrecon.nn.decode", "handrecon.priors.egocentric",
    "handrecon.priors.self_supervised", "handrecon.priors.interaction", "handrecon.priors.probabilistic",
    "scipy.optimize", "lightning", "mediapipe",
]  # fmt: skip


def test_a_photo_run_imports_no_video_training_or_data_modules(tmp_path):
    from importlib.resources import files

    photo = files("handrecon.assets") / "demo_hand.jpg"
    argv = [sys.executable, "-c", PHOTO_RUN_PROBE, str(photo), str(tmp_path / "out"), *NOT_FOR_PHOTOS]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    assert r.stdout.strip().splitlines()[-1] == "0 []", r.stdout + r.stderr
    assert (tmp_path / "out" / "demo_hand.json").is_file()


WORKER_IMPORTS_PROBE = """
import importlib, sys
from pathlib import Path
from handrecon.pipeline import batch
for name in batch.WORKER_PRELOAD:  # what the fork server imports before it forks
    importlib.import_module(name)
before = set(sys.modules)
from handrecon.commands.reconstruct import build_reconstructor
settings = dict(model="openhand", mano_dir=None, detector="thorough", max_hands=None, min_detection_confidence=0.5,
                tta_passes=0, texture=True, init=None, fx=None, fy=None, cx=None, cy=None, fov=None)
job = batch.BatchJob(build_reconstructor, settings, Path(sys.argv[2]), ("obj", "ply", "glb"))
batch._worker_start(job, 1, None)
outcome = batch._worker_process(0, Path(sys.argv[1]), "demo")
new = sorted(m for m in set(sys.modules) - before if m.startswith(("handrecon", "torch", "scipy", "cv2", "ai_edge")))
print(outcome.written, new)
"""


def test_a_worker_imports_nothing_heavy_after_the_fork_server_preload(tmp_path):
    """A `--workers` process starts from the fork server's imports (`WORKER_PRELOAD`): a photo with every
    default output then loads no pipeline, torch, SciPy, OpenCV or LiteRT module of its own."""
    from importlib.resources import files

    photo = files("handrecon.assets") / "demo_hand.jpg"
    argv = [sys.executable, "-c", WORKER_IMPORTS_PROBE, str(photo), str(tmp_path / "out")]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    assert r.stdout.strip().splitlines()[-1:] == ["True []"], r.stdout + r.stderr
