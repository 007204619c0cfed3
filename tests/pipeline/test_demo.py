"""`handrecon demo` on the bundled render: outputs exist and the reconstruction is close to the render's truth."""

import json
import re

from handrecon.cli import main as cli_main


def test_demo_reconstructs_the_bundled_sample(tmp_path, capsys):
    out = tmp_path / "demo"
    assert cli_main(["demo", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "outputs in" in text
    rec = json.loads((out / "demo_hand.json").read_text())
    assert len(rec["hands"]) == 1 and rec["hands"][0]["handedness"] == "left"
    for suffix in ("_overlay.png", "_side.png", "_hand0_left.obj", "_hand0_left.ply", "_hand0_left.glb", ".npz"):
        assert (out / f"demo_hand{suffix}").is_file(), suffix
    mpjpe = float(re.search(r"MPJPE ([0-9.]+) mm", text).group(1))
    pa = float(re.search(r"PA-MPJPE ([0-9.]+) mm", text).group(1))
    assert mpjpe < 40 and pa < 20  # measured 18 and 11 mm
    assert rec["hands"][0]["plausibility"]["plausible"]
