"""`handrecon synth` writes a readable set; bad arguments get a clear message and no output."""

import numpy as np

from handrecon.cli import main
from handrecon.data.freihand import FreiHANDDataset


def test_command_writes_a_freihand_layout_set(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HANDRECON_NATIVE_LOGS", "1")  # keep the process's stderr as pytest captures it
    out = tmp_path / "set"
    assert main(["synth", "--n", "3", "--out", str(out), "--size", "64", "--seed", "4", "--workers", "1"]) == 0
    ds = FreiHANDDataset(out)
    assert len(ds) == 3
    item = ds.raw(2)
    assert item["image"].shape == (64, 64, 3)
    assert item["synth_index"] == 2 and np.isfinite(item["xyz"]).all()
    assert ds.meta["config"]["seed"] == 4
    assert set(ds.sidecar) <= set(ds.meta["sidecar_fields"])  # every stored array is documented
    assert "samples/s" in capsys.readouterr().out


def test_command_refuses_bad_arguments(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HANDRECON_NATIVE_LOGS", "1")
    out = tmp_path / "none"
    assert main(["synth", "--n", "0", "--out", str(out)]) == 2
    assert main(["synth", "--n", "2", "--out", str(out), "--size", "8"]) == 2
    assert "at least 32" in capsys.readouterr().err
    assert not out.exists()
