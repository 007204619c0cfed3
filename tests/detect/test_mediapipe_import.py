"""MediaPipe is imported without matplotlib (its plotting helpers' import, ~0.6 s of a video's start-up) and
sounddevice (its audio tasks'), and both still work afterwards, also through MediaPipe's modules."""

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


def test_matplotlib_used_while_the_stand_ins_are_in_place_gets_the_real_modules():
    code = """
import sys
from handrecon.detect.mediapipe_hands import _unused_imports_deferred
with _unused_imports_deferred():
    import matplotlib.pyplot as plt  # another thread's import, during MediaPipe's
    version = plt.matplotlib.__version__  # forwarded: the real modules replace the stand-ins
    print(type(sys.modules["matplotlib"]).__name__, type(sys.modules["matplotlib.pyplot"]).__name__)
print(type(sys.modules["matplotlib"]).__name__, bool(version))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["module", "module", "module", "True"]


def test_mediapipe_imports_without_sounddevice_whose_first_use_behaves_as_its_import():
    """The audio module keeps a stand-in; its first use imports sounddevice, which then works or fails as a
    plain import does (OSError where PortAudio is missing, as on a machine without sound)."""
    use = """
try:
    SD.default.device
    print("works")
except (OSError, ImportError) as e:
    print(type(e).__name__)
"""
    deferred = """
import sys
from handrecon.detect.mediapipe_hands import import_mediapipe
import_mediapipe()
from mediapipe.tasks.python.audio.core import audio_record
print(type(sys.modules.get("sounddevice")).__name__, type(audio_record.sd).__name__)
SD = audio_record.sd
""" + use
    plain = """
try:
    import sounddevice as SD
except (OSError, ImportError) as e:
    print(type(e).__name__)
    raise SystemExit
""" + use
    got = subprocess.run([sys.executable, "-c", deferred], capture_output=True, text=True, check=True).stdout.split()
    want = subprocess.run([sys.executable, "-c", plain], capture_output=True, text=True, check=True).stdout.split()
    assert got[:2] == ["NoneType", "_DeferredModule"]
    assert got[2:] == want[:1]
