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
batch.start_worker_server = lambda: None
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
