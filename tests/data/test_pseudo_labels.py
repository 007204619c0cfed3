"""`handrecon detect` on a dev photo and the `pseudo` reader on its output (skipped without devdata)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from handrecon.cli import main
from handrecon.data.devdata import unlabelled_photos
from handrecon.data.pseudo import LABELS_FILE, PseudoLabelDataset


@pytest.fixture(scope="module")
def photo():
    photos = unlabelled_photos()
    if not photos:
        pytest.skip("../shared/devdata/photos_hamer not present")
    return photos[0]


def test_detect_round_trip(photo, tmp_path):
    out = tmp_path / "pseudo"
    assert main(["detect", str(photo), "--out", str(out), "--fov", "55"]) == 0
    doc = json.loads((out / LABELS_FILE).read_text())
    (item,) = doc["items"]
    assert item["hands"], "the dev photo shows hands"
    ds = PseudoLabelDataset(out)
    assert len(ds) == 1
    s = ds[0]
    assert s.image.shape[:2] == (item["height"], item["width"])
    assert s.extras["K_source"] == "fov"
    # the 55-degree guess along the longer side
    f = max(item["width"], item["height"]) / 2 / np.tan(np.radians(55) / 2)
    assert s.K[0, 0] == pytest.approx(f)
    for h, ref, sigma in zip(s.hands, item["hands"], s.extras["sigma"], strict=True):
        assert h.side == ref["side"] in ("right", "left")
        np.testing.assert_allclose(h.keypoints_2d[:, :2], ref["keypoints"])
        assert (h.keypoints_2d[:, :2] >= 0).all() and (h.keypoints_2d[:, 0] <= item["width"]).all()
        assert np.isfinite(sigma).all() and (sigma > 0).all()
        np.testing.assert_allclose(h.box, [*h.keypoints_2d[:, :2].min(0), *h.keypoints_2d[:, :2].max(0)])
    t = s.to_tensors()
    assert t["has_keypoints_2d"][: len(s.hands)].all() and not t["joints_3d_valid"].any()


def test_pseudo_reader_rejects_other_files(tmp_path):
    from handrecon.io.errors import InputError

    (tmp_path / LABELS_FILE).write_text(json.dumps({"format": "something else"}))
    with pytest.raises(InputError, match="handrecon-pseudo-labels"):
        PseudoLabelDataset(tmp_path)
