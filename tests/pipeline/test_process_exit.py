"""Ending a process without the interpreter's teardown keeps what a normal exit does before it: threads
joined, atexit handlers run, output flushed, the exit status; the fork server alone skips its teardown."""

from __future__ import annotations

import subprocess
import sys

END = """
import atexit, sys, threading, time
from pathlib import Path
from handrecon.pipeline.process_exit import end_process
out = Path(sys.argv[1])
atexit.register(lambda: (out / "atexit").write_text("ran"))
def late():
    time.sleep(0.3)
    (out / "thread").write_text("finished")
threading.Thread(target=late).start()
sys.stdout.write("no newline at the end")
sys.stderr.write("buffered")
end_process(3)
(out / "after").write_text("must not run")
"""


def test_end_process_joins_threads_runs_atexit_flushes_and_keeps_the_status(tmp_path):
    r = subprocess.run([sys.executable, "-c", END, str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 3, r.stderr
    assert r.stdout == "no newline at the end" and r.stderr.endswith("buffered")
    assert (tmp_path / "atexit").read_text() == "ran"
    assert (tmp_path / "thread").read_text() == "finished"
    assert not (tmp_path / "after").exists()


SERVER = """
import multiprocessing, sys
from concurrent.futures import ProcessPoolExecutor
import handrecon.pipeline.fork_server_exit as here
ctx = multiprocessing.get_context("forkserver")
ctx.set_forkserver_preload(["handrecon.pipeline.fork_server_exit"])
probe = "__import__('handrecon.pipeline.fork_server_exit', fromlist=['REGISTERED']).REGISTERED"
with ProcessPoolExecutor(1, mp_context=ctx) as pool:
    in_server = pool.submit(eval, probe).result()  # a worker forked from the server sees the server's state
print(here.REGISTERED, in_server)
"""


def test_only_the_fork_server_registers_its_fast_exit():
    if not sys.platform.startswith("linux"):
        return  # the fork server is what Linux runs (`batch._worker_context`)
    r = subprocess.run([sys.executable, "-c", SERVER], capture_output=True, text=True, timeout=240)
    assert r.stdout.split() == ["False", "True"], r.stdout + r.stderr


def test_the_worker_preload_ends_with_the_fork_servers_fast_exit():
    from handrecon.pipeline.batch import WORKER_PRELOAD

    assert WORKER_PRELOAD[-1] == "handrecon.pipeline.fork_server_exit"


def test_the_command_keeps_its_status_and_messages_through_the_quick_exit(tmp_path):
    cmd = [sys.executable, "-m", "handrecon.cli", "reconstruct", str(tmp_path / "a.jpg"), "--workers", "0"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stderr
    expected = "handrecon reconstruct: --workers: must be a whole number of at least 1, got 0"
    assert r.stderr.strip().splitlines()[-1] == expected
