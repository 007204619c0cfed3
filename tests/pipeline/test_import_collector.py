"""The garbage collector paused while torch and the pipeline load (`pipeline.import_collector`): it is on
again afterwards, what loaded is frozen only where asked (the fork server, the command's own process), and
a worker forked from the server starts with it on."""

from __future__ import annotations

import gc
import subprocess
import sys

import pytest

from handrecon.pipeline.import_collector import collector_paused, pause_in_fork_server, resume_in_fork_server


@pytest.fixture(autouse=True)
def _collector_as_it_was():
    was = gc.isenabled()
    yield
    gc.unfreeze()
    if was:
        gc.enable()
    else:
        gc.disable()


def test_the_collector_is_off_inside_and_on_after():
    gc.enable()
    gc.unfreeze()
    with collector_paused(freeze=False):
        assert not gc.isenabled()
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0


def test_freeze_moves_what_was_loaded_out_of_the_collectors_reach():
    gc.enable()
    gc.unfreeze()
    with collector_paused(freeze=True):
        kept = [[i] for i in range(1000)]  # tracked containers made inside the block
    assert gc.isenabled()
    assert gc.get_freeze_count() >= len(kept)


def test_an_error_inside_still_turns_the_collector_back_on():
    gc.enable()
    with pytest.raises(RuntimeError), collector_paused(freeze=False):
        raise RuntimeError("import failed")
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off():
    gc.disable()
    with collector_paused(freeze=False):
        pass
    assert not gc.isenabled()


def test_outside_the_fork_server_nothing_changes():
    gc.enable()
    gc.unfreeze()
    assert pause_in_fork_server() is False and gc.isenabled()
    assert resume_in_fork_server() is False and gc.get_freeze_count() == 0


SERVER = """
import gc, multiprocessing, sys
from concurrent.futures import ProcessPoolExecutor
import handrecon.pipeline.fork_server_start as first
import handrecon.pipeline.fork_server_exit as last
ctx = multiprocessing.get_context("forkserver")
ctx.set_forkserver_preload(["handrecon.pipeline.fork_server_start", "json", "handrecon.pipeline.fork_server_exit"])
probe = ("(__import__('handrecon.pipeline.fork_server_start', fromlist=['PAUSED']).PAUSED, "
         "__import__('handrecon.pipeline.fork_server_exit', fromlist=['RESUMED']).RESUMED, "
         "__import__('gc').isenabled(), __import__('gc').get_freeze_count())")
with ProcessPoolExecutor(1, mp_context=ctx) as pool:
    paused, resumed, enabled, frozen = pool.submit(eval, probe).result()  # the worker inherits the server's state
print(first.PAUSED, last.RESUMED, gc.isenabled(), paused, resumed, enabled, frozen > 1000)
"""


def test_the_fork_server_pauses_then_freezes_and_its_workers_start_with_the_collector_on():
    if not sys.platform.startswith("linux"):
        pytest.skip("the fork server is what Linux runs (`batch._worker_context`)")
    r = subprocess.run([sys.executable, "-c", SERVER], capture_output=True, text=True, timeout=240)
    assert r.stdout.split() == ["False", "False", "True", "True", "True", "True", "True"], r.stdout + r.stderr


def test_the_worker_preload_starts_with_the_pause_and_ends_with_the_resume():
    from handrecon.pipeline.batch import WORKER_PRELOAD

    assert WORKER_PRELOAD[0] == "handrecon.pipeline.fork_server_start"
    assert WORKER_PRELOAD[-1] == "handrecon.pipeline.fork_server_exit"


ONE_WORKER = """
import gc, sys
from pathlib import Path
from handrecon.pipeline import process_exit
from handrecon.pipeline.batch import BatchJob, run_batch
if sys.argv[1] == "owned":
    process_exit.claim_process()
class Rec:
    def __init__(self):
        self.collector_on = gc.isenabled()
    def close(self):
        pass
seen = []
def factory(job):
    rec = Rec()
    seen.append(rec)
    return rec
job = BatchJob(dict, {}, Path("."), ())
list(run_batch(job, [], [], workers=1, rec_factory=factory))
print(seen[0].collector_on, gc.isenabled(), gc.get_freeze_count() > 0)
"""


@pytest.mark.parametrize("owner", ["owned", "in-process"])
def test_one_worker_builds_its_reconstructor_with_the_collector_paused_and_freezes_only_its_own_process(owner):
    r = subprocess.run([sys.executable, "-c", ONE_WORKER, owner], capture_output=True, text=True, timeout=240)
    frozen = "True" if owner == "owned" else "False"
    assert r.stdout.split() == ["False", "True", frozen], r.stdout + r.stderr
