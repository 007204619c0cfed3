"""A pool's parent detecting hands while its workers start (`handrecon.pipeline.predetect`): the same files
and failure lines as without it, and no torch in the parent."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest

from handrecon.cli import main as cli_main
from handrecon.pipeline import batch, predetect
from handrecon.pipeline.config import PipelineConfig

from .test_workers import _folder, interrupt_and_check

OUTPUTS = ["--no-texture", "--formats", "obj", "--no-overlay", "-q"]


def _files(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def test_parent_detections_give_the_same_files_and_failures(tmp_path, capsys, monkeypatch):
    folder, bad = _folder(tmp_path, copies=3)  # 6 hands, an image without a hand, a broken file
    (folder / "zz_broken.jpg").write_bytes(b"not a jpeg either")  # last: among the parent's inputs
    detected_in_parent: list[int] = []
    original = batch._detect_while_starting

    def every_later_input(job, inputs, todo, detected, stop):
        # detect every input the workers do not take at once, however fast they start (deterministic)
        original(job, inputs, todo, detected, lambda: False)
        detected_in_parent.extend(detected)

    monkeypatch.setattr(batch, "_detect_while_starting", every_later_input)
    runs = {}
    for name, env in (("off", "0"), ("on", "1")):
        monkeypatch.setenv(predetect.PREDETECT_ENV, env)
        out = tmp_path / name
        code = cli_main(["reconstruct", str(folder), "--out", str(out), "--workers", "2", *OUTPUTS])
        err = capsys.readouterr().err
        assert code == 1 and "Traceback" not in err
        runs[name] = (_files(out), err[err.index("failure(s):") :].splitlines()[1:])
    # 9 inputs (broken, empty, left_0..2, right_0..2, zz_broken), 4 taken by the workers at once: the
    # parent read the other 5 and detected 4 (zz_broken.jpg is left to its worker)
    assert sorted(detected_in_parent) == [4, 5, 6, 7]
    (files_off, fail_off), (files_on, fail_on) = runs["off"], runs["on"]
    assert fail_on == fail_off and len(fail_on) == 3
    assert fail_on[0].startswith(f"  {bad[0]}: ") and fail_on[1] == f"  {bad[1]}: no hand found"
    assert fail_on[2].startswith(f"  {folder / 'zz_broken.jpg'}: ")
    assert sorted(files_on) == sorted(files_off) and len([n for n in files_on if n.endswith(".json")]) == 6
    assert all(files_on[n] == files_off[n] for n in files_off)  # byte for byte


def test_a_photo_the_parent_cannot_read_is_left_to_its_worker(tmp_path):
    folder, (broken, _) = _folder(tmp_path, copies=1)
    detector = predetect.StartupDetector(predetect.detection_settings({}))
    try:
        assert detector.detect(broken) is None
        assert detector.detect(tmp_path / "clip.mp4") is None  # videos: never
    finally:
        detector.close()


def test_settings_the_parent_cannot_read_turn_it_off():
    assert predetect.detection_settings({"config": PipelineConfig()}) is None
    assert predetect.detection_settings({"max_hands": 0}) is None  # the workers report it
    s = predetect.detection_settings({"detector": "fast", "max_hands": 3, "tta_passes": None})
    assert (s.detector, s.max_hands, s.tta_passes) == ("fast", 3, 0)


def test_defaults_agree_with_the_pipeline_config():
    c = PipelineConfig()
    s = predetect.detection_settings({})
    assert (s.detector, s.max_hands, s.min_detection_confidence, s.tta_passes, s.max_side) == (
        c.detector, c.max_hands, c.min_detection_confidence, c.tta_passes, c.detection_max_side
    )  # fmt: skip


def test_the_parent_detects_without_importing_torch():
    with resources.as_file(resources.files("handrecon.assets") / "demo_hand.jpg") as photo:
        code = (
            "import sys\n"
            "from pathlib import Path\n"
            "from handrecon.pipeline import batch\n"
            "from handrecon.pipeline.predetect import StartupDetector, detection_settings\n"
            "d = StartupDetector(detection_settings({}))\n"
            f"dets = d.detect(Path({str(photo)!r}))\n"
            "d.close()\n"
            "assert dets and dets[0].keypoints.shape == (21, 2), dets\n"
            "print('torch' in sys.modules)\n"
        )
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "False"


@pytest.mark.skipif(os.name != "posix", reason="process groups and SIGINT as a terminal sends it")
def test_ctrl_c_while_the_workers_start_leaves_nothing_behind(tmp_path):
    folder, _ = _folder(tmp_path, copies=8)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "handrecon.cli", "reconstruct", str(folder), "--out", str(out), "--workers", "2"]
    # the output folder is made just before the pool; 0.3 s later the fork server is still importing and the
    # parent detects
    interrupt_and_check(cmd, out, out.is_dir, timeout=60, then=0.3, before=lambda: not any(out.glob("*.json")))
