"""The TFLite models bundled in the installed `mediapipe` wheel, run directly with the LiteRT interpreter.

MediaPipe's legacy Python API hides what a multi-source front end needs (the hand-landmark model on any
crop, its presence score and handedness; the pose models for several people). The `.tflite` files are read
from the installed package at run time (Apache-2.0, never copied into this project) and run with
`ai_edge_litert` (LiteRT, the TFLite runtime on PyPI).
"""

from __future__ import annotations

import contextlib
import os
import weakref
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from handrecon.io.errors import InputError, SettingError

# name -> path inside the mediapipe package
BUNDLED_MODELS: dict[str, str] = {
    "palm_detection": "modules/palm_detection/palm_detection_full.tflite",
    "hand_landmark": "modules/hand_landmark/hand_landmark_full.tflite",
    "pose_detection": "modules/pose_detection/pose_detection.tflite",
    "pose_landmark": "modules/pose_landmark/pose_landmark_full.tflite",
}


def bundled_model_path(name: str) -> Path:
    """Where the installed mediapipe wheel keeps model `name` (see BUNDLED_MODELS)."""
    import importlib.util

    spec = importlib.util.find_spec("mediapipe")
    if spec is None or spec.origin is None:
        raise InputError("mediapipe", "not installed (pip install mediapipe==0.10.21)")
    path = Path(spec.origin).parent / BUNDLED_MODELS[name]
    if not path.is_file():
        raise InputError(path, "model file missing from the mediapipe wheel (mediapipe==0.10.21 bundles it)")
    return path


_THREADS_FIXED: int | None = None  # set by `fixed_interpreter_threads`


@contextlib.contextmanager
def fixed_interpreter_threads(threads: int) -> Iterator[None]:
    """Interpreters made inside the block run `threads` threads (a pool's parent detecting while the other
    cores start the workers); the count in force before is restored afterwards."""
    global _THREADS_FIXED
    before, _THREADS_FIXED = _THREADS_FIXED, threads
    try:
        yield
    finally:
        _THREADS_FIXED = before


def interpreter_threads() -> int:
    """Threads of each interpreter: HANDRECON_LITERT_THREADS when set; else one in a worker process of a pool
    (`multiprocessing`: `handrecon reconstruct --workers N`, by default one per core) and min(4, cores) in a
    lone process. Measured at load ~2 on 2 cores (benchmarks/bench_detection.py --threads 20): alone, 2 threads
    run the hand-landmark model in 9.5 ms against 13.8 (palm 12.0 against 14.6); two processes at once, 1 thread
    is faster (landmark 16.5 against 18.0 ms, palm 18.6-22.0 against 22.4-27.2) and costs less CPU. Results
    are bit-identical with any count."""
    if _THREADS_FIXED is not None:
        return _THREADS_FIXED
    env = os.environ.get("HANDRECON_LITERT_THREADS", "").strip()
    if env:
        if not env.isdigit() or int(env) < 1:
            raise SettingError("HANDRECON_LITERT_THREADS", f"must be a positive whole number, got {env!r}")
        return int(env)
    import multiprocessing

    if multiprocessing.parent_process() is not None:
        return 1
    return min(4, os.cpu_count() or 1)


_LIVE: weakref.WeakSet = weakref.WeakSet()  # every TFLiteModel of this process (`open_interpreters`)


def open_interpreters() -> int:
    """Make now the interpreter of every one-thread `TFLiteModel` of this process that has none yet (each is
    otherwise made at its first use). For the `--workers` fork server, which builds the workers' detector
    once (`pipeline.worker_prototype`): a one-thread interpreter starts no thread, so the server may still
    fork, and every worker gets them made. Returns how many were made."""
    made = 0
    for model in list(_LIVE):
        if model._interp is None and model.threads == 1:
            model._interpreter()
            made += 1
    return made


class TFLiteModel:
    """One bundled model with its interpreter, created at first use; `run` returns the outputs by name order."""

    def __init__(self, name: str, threads: int | None = None) -> None:
        self.name = name
        self.path = bundled_model_path(name)
        self.threads = threads or interpreter_threads()
        self._interp = None
        _LIVE.add(self)

    def _interpreter(self):
        if self._interp is None:
            from ai_edge_litert.interpreter import Interpreter

            from handrecon.io.native_stderr import quiet_native_stderr

            with quiet_native_stderr():
                it = Interpreter(model_path=str(self.path), num_threads=self.threads)
                it.allocate_tensors()
            inp = it.get_input_details()[0]
            outs = sorted(it.get_output_details(), key=lambda d: _output_order(d["name"]))
            self._interp = (it, inp, outs)
        return self._interp

    @property
    def input_size(self) -> tuple[int, int]:
        """(height, width) of the model's input image."""
        _, inp, _ = self._interpreter()
        return int(inp["shape"][1]), int(inp["shape"][2])

    def run(self, image: np.ndarray) -> list[np.ndarray]:
        """Outputs (batch dimension dropped) for one float32 input image (H, W, 3)."""
        it, inp, outs = self._interpreter()
        it.set_tensor(inp["index"], np.ascontiguousarray(image, dtype=np.float32)[None])
        it.invoke()
        return [it.get_tensor(o["index"])[0].copy() for o in outs]


def _output_order(name: str) -> int:
    """Identity, Identity_1, Identity_2, ... in that order (the models' output names)."""
    tail = name.rsplit("_", 1)
    return int(tail[1]) if len(tail) == 2 and tail[1].isdigit() else 0
