"""What the thorough front end spends: interpreter threads (`handrecon.detect.litert.interpreter_threads`) and
the scan windows it skips (`ThoroughHands.scan_proposals`)."""

import dataclasses
import multiprocessing

import numpy as np
import pytest

from handrecon.detect.crops import RotatedRect
from handrecon.detect.litert import interpreter_threads
from handrecon.detect.multi_source import SCAN_SKIP_PRESENCE, ThoroughHands, ThoroughSettings
from handrecon.detect.proposals import Proposal, scan_windows
from handrecon.io.errors import SettingError


def test_interpreter_threads_follow_the_setting_and_the_process(monkeypatch):
    monkeypatch.delenv("HANDRECON_LITERT_THREADS", raising=False)
    cores = min(4, multiprocessing.cpu_count())
    assert interpreter_threads() == cores  # a lone process: up to 4 cores
    monkeypatch.setenv("HANDRECON_LITERT_THREADS", "3")
    assert interpreter_threads() == 3
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv("HANDRECON_LITERT_THREADS", bad)
        with pytest.raises(SettingError, match="HANDRECON_LITERT_THREADS"):
            interpreter_threads()


def test_a_pool_worker_runs_one_interpreter_thread(monkeypatch):
    monkeypatch.delenv("HANDRECON_LITERT_THREADS", raising=False)
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        assert pool.apply(interpreter_threads) == 1


def _detector(**kw) -> ThoroughHands:
    return ThoroughHands(settings=dataclasses.replace(ThoroughSettings(), **kw))


def test_no_scan_windows_after_a_hand_like_palm_reading():
    det = _detector()
    assert det.settings.scan_skip_presence == SCAN_SKIP_PRESENCE
    every = scan_windows(256, 256)
    assert len(det.scan_proposals(256, 256, 0.0)) == len(every)
    assert len(det.scan_proposals(256, 256, SCAN_SKIP_PRESENCE - 0.01)) == len(every)
    assert det.scan_proposals(256, 256, SCAN_SKIP_PRESENCE) == []
    assert len(_detector(scan_skip_presence=None).scan_proposals(256, 256, 0.99)) == len(every)


def test_the_verifier_records_the_best_rejected_reading(thorough, demo_rgb):
    H, W = demo_rgb.shape[:2]
    hands = thorough.verifier(demo_rgb, [Proposal(RotatedRect.around(0, 0, W, H), "whole-image", 0.0)])
    assert hands and thorough.verifier.best_rejected == 0.0  # the one reading was kept
    corner = Proposal(RotatedRect(20, 20, 40, 40), "scan", 0.0)
    assert thorough.verifier(demo_rgb, [corner]) == []
    assert 0.0 < thorough.verifier.best_rejected < thorough.verifier.presence_threshold


@pytest.mark.parametrize("zoom_first", [False, True])
def test_the_fallbacks_run_in_their_order_until_one_finds_a_hand(zoom_first):
    det = _detector(zoom_first=zoom_first)
    calls: list[str] = []
    found = {"zoom": ["zoom hand"], "scan": []}

    def zoom(rgb, factors):
        calls.append("zoom")
        return found["zoom"]

    def verify(rgb, props, known=None):
        calls.append(props[0].source)
        return found.get(props[0].source, [])

    det.zoom_pyramid_hands, det.verifier = zoom, verify
    rgb = np.zeros((256, 256, 3), np.uint8)
    weak = [Proposal(RotatedRect(128, 128, 100, 100), "palm-weak", 0.45)]
    stats = {"proposals": 0}
    assert det.fallback_hands(rgb, 0.0, weak, stats) == ["zoom hand"]
    assert calls == (["zoom"] if zoom_first else ["scan", "palm-weak", "zoom"])
    calls.clear()
    found["scan"] = ["scan hand"]  # the scan finds a hand: with the pyramid first, it still answers first
    assert det.fallback_hands(rgb, 0.0, weak, stats) == (["zoom hand"] if zoom_first else ["scan hand"])
    calls.clear()
    found["zoom"], found["scan"] = [], []  # nothing anywhere: every fallback runs once
    assert det.fallback_hands(rgb, 0.0, weak, stats) == []
    assert sorted(calls) == ["palm-weak", "scan", "zoom"]
