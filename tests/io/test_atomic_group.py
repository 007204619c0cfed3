"""`atomic_group`: the files of one result appear together (all or none, in the order written) after one
fsync burst, with one folder fsync instead of one per file."""

from __future__ import annotations

import threading

import pytest

import handrecon.io.atomic as atomic
from handrecon.io import atomic_group, write_json_atomic, write_obj, write_text_atomic


def _visible(folder):
    return sorted(p.name for p in folder.iterdir())


def test_files_take_their_names_together_at_the_end_in_order(tmp_path, monkeypatch):
    renamed = []
    replace = atomic.os.replace
    monkeypatch.setattr(atomic.os, "replace", lambda a, b: (renamed.append(b.name), replace(a, b)))
    folder_syncs = []
    monkeypatch.setattr(atomic, "_fsync_dir", folder_syncs.append)
    with atomic_group():
        write_text_atomic(tmp_path / "b.txt", "b")
        write_json_atomic(tmp_path / "a.json", {"x": 1})
        assert _visible(tmp_path) == sorted(p.name for p in tmp_path.glob(".*"))  # only temporaries yet
        assert renamed == []
    assert renamed == ["b.txt", "a.json"]
    assert _visible(tmp_path) == ["a.json", "b.txt"] and (tmp_path / "b.txt").read_text() == "b"
    assert folder_syncs == [tmp_path]  # one per folder, not one per file


def test_a_failure_in_the_group_leaves_none_of_its_files_and_keeps_earlier_ones(tmp_path):
    (tmp_path / "a.txt").write_text("old")
    with pytest.raises(RuntimeError), atomic_group():
        write_text_atomic(tmp_path / "a.txt", "new")
        write_obj(tmp_path / "m.obj", [[0, 0, 0], [1, 0, 0], [0, 1, 0]], [[0, 1, 2]])
        raise RuntimeError("the next file failed")
    assert _visible(tmp_path) == ["a.txt"] and (tmp_path / "a.txt").read_text() == "old"


def test_other_threads_write_outside_the_group(tmp_path):
    done = threading.Event()

    def other():
        write_text_atomic(tmp_path / "other.txt", "x")
        done.set()

    with atomic_group():
        write_text_atomic(tmp_path / "mine.txt", "y")
        t = threading.Thread(target=other)
        t.start()
        t.join()
        assert done.is_set() and (tmp_path / "other.txt").is_file() and not (tmp_path / "mine.txt").exists()
    assert (tmp_path / "mine.txt").read_text() == "y"

