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
