"""`handrecon reconstruct` on odd flags, names and folders: a correct result or one clear line, never a
traceback or a silently wrong file (issue: reliability of every input and flag)."""

from __future__ import annotations

import json
import os
import pickle
import shutil
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from handrecon.cli import main as cli_main
from handrecon.io import VideoWriter
from tests.processes import dead_pid


@pytest.fixture(scope="module")
def hand_photo(tmp_path_factory) -> Path:
    """The bundled one-hand sample, copied out of the package."""
    dst = tmp_path_factory.mktemp("photo") / "hand.jpg"
    with resources.as_file(resources.files("handrecon.assets") / "demo_hand.jpg") as src:
        shutil.copyfile(src, dst)
    return dst


def _fail_if_reconstructor_is_built(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("the reconstructor must not be built when the arguments are refused")

    monkeypatch.setattr("handrecon.commands.reconstruct.make_reconstructor", refuse)


@pytest.mark.parametrize(
    "flags, named",
    [
        (["--min-confidence", "2"], "--min-confidence"),  # reported "no hand found" for every image
        (["--min-confidence", "nan"], "--min-confidence"),  # was accepted
        (["--tta", "-1"], "--tta"),  # was accepted
        (["--max-hands", "0"], "--max-hands"),  # two-line message, then a RuntimeError traceback
        (["--max-hands", "-1"], "--max-hands"),
        (["--fx", "1e-9"], "--fx"),  # hand at z = -1.9e6 m, "plausible"
        (["--fov", "179.999"], "--fov"),
        (["--fx", "1e12"], "--fx"),  # depths of 1e10 m
        (["--fov", "1e-6"], "--fov"),
        (["--fov", "60", "--fx", "500"], "--fov"),
        (["--formats", "stl"], "--formats"),
        (["--model", "mano"], "--mano-dir"),  # exited 1 through SystemExit, not 2 like other usage errors
    ],
)
def test_flags_out_of_range_are_refused_at_start(tmp_path, capsys, monkeypatch, hand_photo, flags, named):
    _fail_if_reconstructor_is_built(monkeypatch)
    out = tmp_path / "out"
    code = cli_main(["reconstruct", str(hand_photo), "--out", str(out), "-q", *flags])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and named in err and err.startswith("handrecon reconstruct: "), err
    assert not out.exists()  # refused before anything was written


@pytest.mark.parametrize("kind", ["file", "proc", "unwritable"])
def test_an_unusable_out_folder_is_refused_before_any_input(tmp_path, capsys, monkeypatch, hand_photo, kind):
    if kind == "file":
        out = tmp_path / "taken"
        out.write_text("x")
    elif kind == "proc":
        if not Path("/proc/self").is_dir():
            pytest.skip("no /proc")
        out = Path("/proc/self/handrecon_out")
    else:
        if os.name == "nt" or os.geteuid() == 0:
            pytest.skip("permissions do not bind root")
        parent = tmp_path / "ro"
        parent.mkdir(mode=0o500)
        out = parent / "out"
    _fail_if_reconstructor_is_built(monkeypatch)
    code = cli_main(["reconstruct", str(hand_photo), "--out", str(out), "-q"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "--out" in err and str(out) in err, err


def test_unusable_mano_files_are_one_line_naming_the_file(tmp_path, capsys, hand_photo):
    mano = tmp_path / "mano"
    mano.mkdir()
    (mano / "MANO_RIGHT.pkl").write_bytes(pickle.dumps({"v_template": np.zeros((4, 3))}, protocol=2))
    code = cli_main(["reconstruct", str(hand_photo), "--out", str(tmp_path / "o"), "-q", "--model", "mano",
                     "--mano-dir", str(mano)])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and str(mano / "MANO_RIGHT.pkl") in err and "'f'" in err, err
    assert "Traceback" not in err


class _Interrupting:
    """Stands in for HandReconstructor: Ctrl-C arrives while the first input is being reconstructed."""

    closed = False

    def load(self, path):
        raise KeyboardInterrupt

    def close(self):
        _Interrupting.closed = True


def test_ctrl_c_stops_with_one_line_and_exit_130(tmp_path, capsys, monkeypatch, hand_photo):
    monkeypatch.setattr("handrecon.commands.reconstruct.make_reconstructor", lambda args: _Interrupting())
    out = tmp_path / "out"
    code = cli_main(["reconstruct", str(hand_photo), str(hand_photo), "--out", str(out), "-q"])
    err = capsys.readouterr().err
    assert code == 130 and err == "handrecon reconstruct: interrupted\n"
    assert _Interrupting.closed  # the detector is released on the way out
    assert list(out.iterdir()) == []


def _grey_video(path: Path, frames: int = 6) -> Path:
    with VideoWriter(path, 10.0) as w:
        for _ in range(frames):
            w.write(np.full((96, 128, 3), 128, np.uint8))
    return path


def test_names_collisions_stale_files_and_a_video_without_hands(tmp_path, capsys, hand_photo):
    """One run over: the same file name in two folders (the second overwrote part of the first), a name
    with a newline (split the progress lines), an image and a video without a hand (the video exited 0
    without a line), into an --out holding files of an earlier run with two hands and a temporary file
    left by a killed run."""
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    shutil.copyfile(hand_photo, a / "same.jpg")
    Image.open(hand_photo).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(b / "same.jpg")  # a right hand
    newline = tmp_path / "new\nline.jpg"
    shutil.copyfile(hand_photo, newline)
    empty = tmp_path / "nothing.png"
    Image.new("RGB", (200, 150), (90, 120, 150)).save(empty)
    video = _grey_video(tmp_path / "grey.mp4")

    out = tmp_path / "out"
    out.mkdir()
    stale = [out / "same_hand1_right.ply", out / "same_hand0_left.glb", out / "same_overlay.png"]
    for p in stale:
        p.write_bytes(b"from an earlier run")
    gone = dead_pid()
    stale_tmp = out / f".same.json.{gone}-0123abcd.tmp.json"
    stale_tmp.write_text("{")
    unrelated = out / "notes.txt"
    unrelated.write_text("mine")

    inputs = [a / "same.jpg", b / "same.jpg", newline, empty, video]
    code = cli_main(["reconstruct", *map(str, inputs), "--out", str(out), "-q", "--no-texture", "--formats", "ply",
                     "--no-overlay"])  # fmt: skip
    cap = capsys.readouterr()
    err = cap.err
    assert code == 1
    assert "Traceback" not in err
    # distinct inputs, distinct outputs, each JSON naming its own source
    first, second = (json.loads((out / f"{s}.json").read_text()) for s in ("same", "same_2"))
    assert first["source"] == str(a / "same.jpg") and second["source"] == str(b / "same.jpg")
    assert first["files"]["meshes"] == ["same_hand0_left.ply"]
    assert second["files"]["meshes"] == ["same_2_hand0_right.ply"]
    # the earlier run's files that no JSON lists are gone; other files stay
    assert not any(p.exists() for p in stale) and not stale_tmp.exists() and unrelated.read_text() == "mine"
    # a newline in a name: a safe output name, and a message on one line that shows it escaped
    assert (out / "new_line.json").is_file()
    assert "new\\nline.jpg: 1 hand(s)" in cap.out
    failures = err[err.index("failure(s):") :].splitlines()[1:]
    assert len(failures) == 2, err
    assert failures[0] == f"  {empty}: no hand found"
    assert failures[1] == f"  {video}: no hand found in any of its 6 frame(s)"
    # no file of the image without a hand; nothing hidden left over
    assert not list(out.glob("nothing*")) and not [p for p in out.rglob(".*")]

