"""One-line messages, output folders checked up front, temporaries of killed runs cleaned, native stderr."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from handrecon.io import InputError, one_line, prepare_output_dir, remove_stale_temporaries
from handrecon.io.native_stderr import quiet_native_stderr
from tests.processes import dead_pid


def test_one_line_escapes_control_characters_only():
    assert one_line("plain name é.jpg") == "plain name é.jpg"
    assert one_line("a\nb\rc\td\x1b[2J.jpg") == "a\\nb\\rc\\td\\x1b[2J.jpg"
    e = InputError("dir/new\nline.jpg", "no hand\nfound")
    assert str(e) == "dir/new\\nline.jpg: no hand found" and e.path == "dir/new\nline.jpg"


def test_prepare_output_dir(tmp_path):
    assert prepare_output_dir(tmp_path / "a" / "b").is_dir()
    assert list((tmp_path / "a" / "b").iterdir()) == []  # the write probe leaves nothing
    (tmp_path / "f").write_text("x")
    with pytest.raises(InputError, match="existing file"):
        prepare_output_dir(tmp_path / "f")
    with pytest.raises(InputError, match="cannot write"):
        prepare_output_dir(tmp_path / "f" / "under")
    if os.path.isdir("/proc/self"):
        with pytest.raises(InputError, match="cannot write"):
            prepare_output_dir("/proc/self/handrecon_out")



def test_only_temporaries_of_writers_that_are_gone_are_removed(tmp_path):
    dead, alive, own = dead_pid(), os.getppid(), os.getpid()
    (tmp_path / "sub").mkdir()
    stale = [tmp_path / f".x.json.{dead}-0123abcd.tmp.json", tmp_path / "sub" / f".v.mp4.{dead}-ffffffff.tmp.mp4"]
    live = [tmp_path / f".y.json.{alive}-0123abcd.tmp.json", tmp_path / f".z.png.{own}-00000000.tmp.png"]
    deep = tmp_path / "a" / "b" / "c"  # deeper than any output handrecon writes: not searched
    deep.mkdir(parents=True)
    others = [tmp_path / ".hidden", tmp_path / f"x.json.{dead}-0123abcd.tmp.json", tmp_path / ".a.tmp",
              deep / f".q.json.{dead}-0123abcd.tmp.json"]  # fmt: skip
    for p in stale + live + others:
        p.write_text("x")
    assert sorted(remove_stale_temporaries(tmp_path)) == sorted(stale)
    assert all(p.exists() for p in live + others)
    remove_stale_temporaries(tmp_path, own_too=True)
    assert not live[1].exists() and live[0].exists()


def test_a_writer_killed_mid_write_leaves_a_temporary_a_later_run_removes(tmp_path):
    target = tmp_path / "result.json"
    code = textwrap.dedent(f"""
        import os, signal
        from handrecon.io import atomic_open
        with atomic_open({str(target)!r}, "w") as f:
            f.write("half")
            f.flush()
            os.kill(os.getpid(), signal.SIGKILL)
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True)
    assert proc.returncode == -9
    left = [p for p in tmp_path.iterdir()]
    assert len(left) == 1 and left[0].name.startswith(".result.json.") and not target.exists()
    assert remove_stale_temporaries(tmp_path) == left and list(tmp_path.iterdir()) == []


def test_quiet_native_stderr_silences_descriptor_2_and_restores_it(capfd):
    with quiet_native_stderr():
        os.write(2, b"native warning\n")
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "after\n"
