"""`open_interpreters` makes the interpreters of one-thread models ahead of their first use, and leaves
models with more threads (whose interpreter would start threads) to their first use."""

from __future__ import annotations

import os

import numpy as np
import pytest

from handrecon.detect import litert


def test_one_thread_models_get_their_interpreter_and_give_the_same_outputs():
    try:
        early = litert.TFLiteModel("palm_detection", threads=1)
        late = litert.TFLiteModel("palm_detection", threads=1)
        many = litert.TFLiteModel("palm_detection", threads=2)
    except litert.InputError as e:
        pytest.skip(str(e))
    late._interp = "made"  # already made: left alone
    assert litert.open_interpreters() >= 1
    assert early._interp is not None and late._interp == "made"
    assert many._interp is None
    late._interp = None
    h, w = early.input_size
    image = np.random.default_rng(0).uniform(-1, 1, (h, w, 3)).astype(np.float32)
    for a, b in zip(early.run(image), late.run(image), strict=True):
        assert np.array_equal(a, b)


def test_making_a_one_thread_interpreter_starts_no_thread():
    if not os.path.isdir("/proc/self/task"):
        pytest.skip("thread count read from /proc")
    try:
        model = litert.TFLiteModel("hand_landmark", threads=1)
    except litert.InputError as e:
        pytest.skip(str(e))
    before = len(os.listdir("/proc/self/task"))
    litert.open_interpreters()
    assert model._interp is not None
    assert len(os.listdir("/proc/self/task")) == before
