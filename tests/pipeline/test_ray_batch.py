"""`handrecon reconstruct --ray`: the batch mapped over a Ray Data dataset on a local Ray instance of
2 CPUs started by the test; the same files and failure lines as a run in one process."""

from __future__ import annotations

import numpy as np
import pytest

from handrecon.cli import main as cli_main
from tests.pipeline.test_workers import FAST, _folder

ray = pytest.importorskip("ray")
pytest.importorskip("ray.data")


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_ray_batch_writes_what_one_process_writes(tmp_path, capsys, local_ray):
    folder, bad = _folder(tmp_path, copies=1)
    runs = {}
    for mode in ("local", "ray"):
        out = tmp_path / mode
        extra = ["--ray", "auto"] if mode == "ray" else ["--workers", "1"]
        code = cli_main(["reconstruct", str(folder), "--out", str(out), *extra, *FAST])
        err = capsys.readouterr().err
        assert code == 1 and "Traceback" not in err, err
        runs[mode] = (out, err[err.index("failure(s):") :].splitlines()[1:])
    (out_l, fail_l), (out_r, fail_r) = runs["local"], runs["ray"]
    assert fail_l == fail_r and len(fail_r) == 2 and fail_r[1] == f"  {bad[1]}: no hand found"
    assert sorted(p.name for p in out_l.rglob("*")) == sorted(p.name for p in out_r.rglob("*"))
    for npz in out_l.glob("*.npz"):
        a, b = np.load(npz), np.load(out_r / npz.name)
        assert np.abs(a["hand0_joints_3d"] - b["hand0_joints_3d"]).max() < 1e-6
