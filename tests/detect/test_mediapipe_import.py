"""MediaPipe is imported without matplotlib (its plotting helpers' import, ~0.6 s of a video's start-up),
and matplotlib still works afterwards, also through those helpers."""

import subprocess
import sys

import pytest

pytest.importorskip("mediapipe")
pytest.importorskip("matplotlib")

CHECK = """
import sys
from handrecon.detect.mediapipe_hands import import_mediapipe
mp = import_mediapipe()
print("matplotlib" in sys.modules, "matplotlib.pyplot" in sys.modules)
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
print(type(plt).__name__, plt.figure is mp.solutions.drawing_utils.plt.figure)
print(hasattr(mp.solutions.hands, "Hands"))
"""


def test_mediapipe_imports_without_matplotlib_which_imports_normally_later():
    out = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False", "module", "True", "True"]


def test_matplotlib_imported_before_is_left_alone():
    code = "import matplotlib.pyplot as plt\n" + CHECK.replace('print("matplotlib" in', 'print(not "matplotlib" in')
    code = code.replace('"matplotlib.pyplot" in sys.modules)', 'not "matplotlib.pyplot" in sys.modules)')
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False", "module", "True", "True"]
