"""`keep_freed_memory`: a loop that allocates and frees the same large arrays no longer has their pages
faulted in again at every step (the overlay process's frames)."""

from __future__ import annotations

import subprocess
import sys

import pytest

# 8 arrays of 512 kB filled and freed together, 20 times: the page faults per round after a warm-up
LOOP = """
import resource, sys
import numpy as np
from handrecon.pipeline.heap import keep_freed_memory
kept = keep_freed_memory() if sys.argv[1] == "keep" else None
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
def step():
    arrays = [np.full(1 << 16, float(i)) for i in range(8)]
    return sum(float(a[-1]) for a in arrays)
for _ in range(3):
    step()
before = faults()
for _ in range(20):
    step()
print(kept, (faults() - before) / 20)
"""


def _faults_per_round(mode: str) -> tuple[str, float]:
    out = subprocess.run([sys.executable, "-c", LOOP, mode], capture_output=True, text=True, check=True).stdout
    kept, per_round = out.split()
    return kept, float(per_round)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc settings (Linux)")
def test_freed_arrays_are_reused_without_page_faults():
    kept, with_setting = _faults_per_round("keep")
    if kept != "True":
        pytest.skip("this C library has no mallopt settings (not glibc)")
    _, default = _faults_per_round("default")
    pages = 8 * (1 << 16) * 8 // 4096  # the 8 arrays' pages
    assert default > pages / 2  # the default gives the pages back and faults them in again
    assert with_setting < pages / 20


def test_elsewhere_nothing_changes(monkeypatch):
    from handrecon.pipeline import heap

    monkeypatch.setattr(heap.sys, "platform", "darwin")
    assert heap.keep_freed_memory() is False
