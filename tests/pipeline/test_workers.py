"""`handrecon reconstruct --workers N`: the same results as one worker, failures collected the same way,
and Ctrl-C leaves neither processes nor temporary files behind."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from handrecon.cli import main as cli_main

FAST = ["--no-texture", "--formats", "ply", "--no-overlay", "-q"]


def _folder(root: Path, copies: int = 2) -> tuple[Path, list[Path]]:
    """Photos with hands (the bundled sample and its mirror, `copies` of each), an image without a hand
    and a file that is not an image; returns the folder and the two bad files."""
    folder = root / "inputs"
    folder.mkdir()
    with resources.as_file(resources.files("handrecon.assets") / "demo_hand.jpg") as src:
        for k in range(copies):
            shutil.copyfile(src, folder / f"left_{k}.jpg")
            Image.open(src).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(folder / f"right_{k}.jpg")
    Image.new("RGB", (160, 120), (90, 120, 150)).save(folder / "empty.png")
    (folder / "broken.jpg").write_bytes(b"not a jpeg")
    return folder, [folder / "broken.jpg", folder / "empty.png"]


def test_two_workers_give_the_same_files_results_and_failures_as_one(tmp_path, capsys, monkeypatch):
    folder, bad = _folder(tmp_path)
    runs = {}
    for workers in (1, 2):
        out = tmp_path / f"out{workers}"
        code = cli_main(["reconstruct", str(folder), "--out", str(out), "--workers", str(workers), *FAST])
        err = capsys.readouterr().err
        assert code == 1 and "Traceback" not in err
        failures = err[err.index("failure(s):") :].splitlines()[1:]
        runs[workers] = (out, failures)
    (out1, fail1), (out2, fail2) = runs[1], runs[2]
    assert fail1 == fail2 and len(fail1) == 2  # same lines, in input order
    assert fail1[0].startswith(f"  {bad[0]}: ") and fail1[1] == f"  {bad[1]}: no hand found"
    names = sorted(p.name for p in out1.rglob("*"))
    assert names == sorted(p.name for p in out2.rglob("*"))
    assert len([n for n in names if n.endswith(".json")]) == 4
    for js in out1.glob("*.json"):
        a, b = json.loads(js.read_text()), json.loads((out2 / js.name).read_text())
        assert [h["handedness"] for h in a["hands"]] == [h["handedness"] for h in b["hands"]]
        ja, jb = np.load(out1 / f"{js.stem}.npz"), np.load(out2 / f"{js.stem}.npz")
        assert np.abs(ja["hand0_joints_3d"] - jb["hand0_joints_3d"]).max() < 1e-6  # metres: 1e-3 mm


def test_bad_workers_values_are_refused(tmp_path, capsys, monkeypatch):
    folder, _ = _folder(tmp_path, copies=1)
    assert cli_main(["reconstruct", str(folder), "--out", str(tmp_path / "o"), "--workers", "0"]) == 2
    assert "--workers" in capsys.readouterr().err
    monkeypatch.setenv("HANDRECON_WORKERS", "many")
    assert cli_main(["reconstruct", str(folder), "--out", str(tmp_path / "o")]) == 2
    assert "HANDRECON_WORKERS" in capsys.readouterr().err


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def interrupt_and_check(cmd: list[str], out: Path, ready, timeout: float, then: float = 0.0, before=None) -> None:
    """Run the command in its own process group, send Ctrl-C (SIGINT to the group, as a terminal does) once
    `ready()` holds (and `then` seconds more), and check the interruption: status 130 with its one-line
    message, no process of the group left, no temporary file in `out`. `before()`, when given, must hold at
    the moment of the interrupt."""
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    # As from a terminal: Ctrl-C handled even when the test itself runs with SIGINT ignored (a background job).
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # fmt: skip
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and proc.poll() is None and not ready():
            time.sleep(0.02)
        time.sleep(then)
        assert proc.poll() is None, "finished before it could be interrupted"
        assert before is None or before(), "started too late to be interrupted"
        os.killpg(proc.pid, signal.SIGINT)  # as Ctrl-C in a terminal: to every process of the group
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, err.decode()
    assert "handrecon reconstruct: interrupted" in err.decode() and "Traceback" not in err.decode()
    deadline = time.monotonic() + 20
    while _group_alive(proc.pid) and time.monotonic() < deadline:  # helper processes exit with their parent
        time.sleep(0.2)
    assert not _group_alive(proc.pid), "processes left behind"
    assert not [p for p in out.rglob(".*")], "temporary files left behind"


@pytest.mark.skipif(os.name != "posix", reason="process groups and SIGINT as a terminal sends it")
def test_ctrl_c_stops_every_worker_and_leaves_no_temporary_file(tmp_path):
    folder, _ = _folder(tmp_path, copies=8)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "handrecon.cli", "reconstruct", str(folder), "--out", str(out), "--workers", "2",
           "-q"]  # fmt: skip
    # the workers are at work once a photo's files are written
    interrupt_and_check(cmd, out, lambda: out.is_dir() and any(out.glob("*.json")), timeout=240)
