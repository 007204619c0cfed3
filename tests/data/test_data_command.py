"""`handrecon data pack` writes shards that read back as the dataset's samples; `info` summarises."""

import numpy as np

from handrecon.cli import main
from handrecon.data import open_dataset


def test_pack_then_read_back(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HANDRECON_NATIVE_LOGS", "1")
    out = tmp_path / "packed"
    opts = ["-O", "length=3", "-O", "size=48", "-O", "seed=9", "-O", "texture_size=64"]
    assert main(["data", "pack", "synthetic", *opts, "--out", str(out), "--format", "png", "--workers", "0",
                 "--shard-size", "2"]) == 0  # fmt: skip
    assert "3 samples in 2 shards" in capsys.readouterr().out
    source = open_dataset("synthetic", None, "train", length=3, size=48, seed=9, texture_size=64)
    back = list(open_dataset("shards", out))
    assert len(back) == 3
    for a, b in zip(back, source, strict=True):
        np.testing.assert_array_equal(a.image, b.image)
        np.testing.assert_array_equal(a.mask, b.mask)
        np.testing.assert_allclose(a.hands[0].joints_3d, b.hands[0].joints_3d, atol=1e-7)
    assert main(["data", "info", "shards", str(out)]) == 0
    text = capsys.readouterr().out
    assert "samples: 3" in text and "openhand parameters" in text


def test_bad_arguments_get_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HANDRECON_NATIVE_LOGS", "1")
    assert main(["data", "info", "nosuchset", str(tmp_path)]) == 2
    assert "unknown dataset 'nosuchset'" in capsys.readouterr().err
    assert main(["data", "info", "freihand", str(tmp_path / "none")]) == 2
    assert "not a FreiHAND-layout folder" in capsys.readouterr().err
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    assert main(["data", "pack", "synthetic", "-O", "length=1", "--out", str(tmp_path / "full")]) == 2
    assert "not an empty folder" in capsys.readouterr().err
