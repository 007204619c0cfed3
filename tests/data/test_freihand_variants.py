"""FreiHAND's four colour variants of its training images: one block of the annotated frames each."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from handrecon.data import open_dataset


def test_variant_selects_its_block_with_the_shared_labels(tmp_path):
    n = 2
    xyz = [(np.random.default_rng(i).uniform(-0.05, 0.05, (21, 3)) + [0, 0, 0.6]).tolist() for i in range(n)]
    K = [[[500.0, 0, 112.0], [0, 500.0, 112.0], [0, 0, 1]]] * n
    for name, obj in (("xyz", xyz), ("K", K), ("mano", [[0.0] * 61] * n), ("scale", [0.1] * n)):
        (tmp_path / f"training_{name}.json").write_text(json.dumps(obj))
    rgb = tmp_path / "training" / "rgb"
    rgb.mkdir(parents=True)
    for i in range(4 * n):
        Image.new("RGB", (224, 224), (10 * i, 0, 0)).save(rgb / f"{i:08d}.jpg")
    assert len(open_dataset("freihand", tmp_path, "train")) == 4 * n
    hom = open_dataset("freihand", tmp_path, "train", variant="hom")
    assert len(hom) == n
    raw = hom.raw(1)
    assert raw["path"].endswith("00000003.jpg") and raw["annotation_index"] == 1
    np.testing.assert_allclose(hom[1].hands[0].joints_3d, xyz[1])
    with pytest.raises(ValueError, match="variant"):
        open_dataset("freihand", tmp_path, "train", variant="green")
