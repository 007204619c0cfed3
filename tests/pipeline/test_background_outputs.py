"""A photo's files are written on a background thread while the next input is reconstructed (in this
process and in each worker): outcomes stay in input order, a failed write is that input's failure line, as
when writing in the foreground, and no partial or temporary file is left."""

from __future__ import annotations

import shutil
import threading
from importlib import resources
from pathlib import Path

import pytest
import torch

from handrecon.cli import main as cli_main
from handrecon.pipeline import batch
from handrecon.pipeline.batch import BatchJob, InputOutcome, run_serial


class _FakeReconstructor:
    """Loads nothing and finds one placeholder hand per photo, except in photos named "empty*"."""

    def __init__(self) -> None:
        self.started: dict[str, threading.Event] = {}

    def load(self, path: Path):
        return path, torch.eye(3), "test"

    def reconstruct(self, rgb, K):
        self.started.setdefault(rgb.stem, threading.Event()).set()
        return [] if rgb.stem.startswith("empty") else ["hand"]


def _job(tmp_path: Path) -> BatchJob:
    return BatchJob(factory=dict, reconstructor={}, out=tmp_path / "out", formats=())


def test_writes_overlap_the_next_input_and_outcomes_keep_input_order(tmp_path, monkeypatch):
    rec = _FakeReconstructor()
    writes: list[tuple[str, str]] = []

    def write_image_outputs(out, stem, source, rgb, hands, K, formats, overlay, extra):
        # the first photo's write waits until the next photo is being reconstructed: only a background
        # writer gets past this
        if stem == "a" and not rec.started.setdefault("b", threading.Event()).wait(timeout=20):
            raise AssertionError("the next photo was not reconstructed while this one was written")
        writes.append((stem, threading.current_thread().name))
        if stem == "c":
            raise OSError("disk full")
        return type("Files", (), {"json": out / f"{stem}.json"})()

    monkeypatch.setattr("handrecon.pipeline.outputs.write_image_outputs", write_image_outputs)
    inputs = [Path(f"/photos/{s}.jpg") for s in ("a", "b", "empty", "c", "d")]
    outcomes = list(run_serial(rec, _job(tmp_path), inputs, [p.stem for p in inputs]))
    assert [o.index for o in outcomes] == [0, 1, 2, 3, 4]
    assert [o.written for o in outcomes] == [True, True, False, False, True]
    assert outcomes[2].failures == ["/photos/empty.jpg: no hand found"]
    assert outcomes[3].failures == ["/photos/c.jpg: OSError: disk full"]
    assert outcomes[0].message == f"/photos/a.jpg: 1 hand(s) -> {tmp_path / 'out' / 'a.json'}"
    assert [s for s, _ in writes] == ["a", "b", "c", "d"]
    assert all(name.startswith("handrecon-outputs") for _, name in writes)


def test_an_interrupted_batch_stops_its_writer(tmp_path, monkeypatch):
    rec = _FakeReconstructor()
    threads_before = threading.active_count()
    monkeypatch.setattr(
        "handrecon.pipeline.outputs.write_image_outputs",
        lambda out, stem, *a, **k: type("Files", (), {"json": out / f"{stem}.json"})(),
    )
    inputs = [Path(f"/photos/{i}.jpg") for i in range(6)]
    gen = run_serial(rec, _job(tmp_path), inputs, [p.stem for p in inputs])
    first = next(gen)
    assert isinstance(first, InputOutcome) and first.index == 0
    gen.close()  # the caller stops early (Ctrl-C in the command's loop)
    assert threading.active_count() == threads_before


def test_process_input_still_writes_in_the_foreground(tmp_path, monkeypatch):
    called = []
    monkeypatch.setattr(
        "handrecon.pipeline.outputs.write_image_outputs",
        lambda out, stem, *a, **k: called.append(threading.current_thread()) or type("F", (), {"json": out})(),
    )
    o = batch.process_input(_FakeReconstructor(), _job(tmp_path), 0, Path("/photos/x.jpg"), "x")
    assert o.written and called == [threading.main_thread()]


@pytest.mark.parametrize("workers", [1, 2])
def test_a_failed_write_is_that_photos_failure_and_leaves_no_partial_file(tmp_path, capsys, workers):
    folder = tmp_path / "inputs"
    folder.mkdir()
    with resources.as_file(resources.files("handrecon.assets") / "demo_hand.jpg") as src:
        for name in ("a", "b", "c"):
            shutil.copyfile(src, folder / f"{name}.jpg")
    out = tmp_path / "out"
    (out / "b.json").mkdir(parents=True)  # b's JSON cannot take its name
    argv = ["reconstruct", str(folder), "--out", str(out), "--workers", str(workers)]
    code = cli_main([*argv, "--no-texture", "--formats", "ply", "--no-overlay", "-q"])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    failures = err[err.index("failure(s):") :].splitlines()[1:]
    assert len(failures) == 1 and failures[0].startswith(f"  {folder / 'b.jpg'}: IsADirectoryError: ")
    assert (out / "a.json").is_file() and (out / "c.json").is_file()
    assert not [p for p in out.rglob(".*")]  # no temporary file


def test_a_photo_whose_last_file_fails_leaves_none_of_its_files(tmp_path, monkeypatch, reconstructor):
    import numpy as np
    from PIL import Image

    from handrecon.pipeline.outputs import write_image_outputs

    with resources.as_file(resources.files("handrecon.assets") / "demo_hand.jpg") as src:
        rgb = np.asarray(Image.open(src).convert("RGB"))
    K, _ = reconstructor.intrinsics(rgb.shape[1], rgb.shape[0])
    hands = reconstructor.reconstruct(rgb, K=K)
    assert hands

    def full_disk(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr("handrecon.pipeline.outputs.write_json_atomic", full_disk)
    with pytest.raises(OSError, match="disk full"):
        write_image_outputs(tmp_path, "photo", "photo.jpg", rgb, hands, K.numpy(), ("obj", "ply"), overlay=True)
    assert list(tmp_path.iterdir()) == []
