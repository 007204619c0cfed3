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


def test_video_frames_are_kept_every_stride_with_their_labels(tmp_path):
    """label_inputs with a stand-in front end: every 3rd frame of a generated video, frames saved as JPEG,
    a photo without hands listed under split "all" only; a bad file reported on one line."""
    from PIL import Image

    from handrecon.data.pseudo import label_inputs
    from handrecon.io.video import VideoWriter

    video = tmp_path / "in" / "clip.mp4"
    video.parent.mkdir()
    with VideoWriter(video, fps=10) as w:
        for i in range(7):
            w.write(np.full((48, 64, 3), 20 * i, np.uint8))
    Image.new("RGB", (64, 48)).save(tmp_path / "in" / "empty.png")
    (tmp_path / "in" / "broken.jpg").write_bytes(b"not an image")
    kp = np.stack([np.linspace(10, 30, 21), np.linspace(5, 25, 21)], 1)

    def front_end(rgb):
        if rgb.mean() < 1:  # the empty photo and the first frame: no hand
            return []
        return [{"side": "left", "side_score": 0.9, "keypoints": kp, "sigma": np.full(21, 2.0), "box": [10, 5, 30, 25]}]

    errors = []
    inputs = sorted((tmp_path / "in").iterdir())
    doc = label_inputs(inputs, tmp_path / "out", front_end, {"fov": 60.0}, video_stride=3, on_error=errors.append)
    assert len(errors) == 1 and "broken.jpg" in errors[0]
    frames = [it["frame"] for it in doc["items"] if it["frame"] is not None]
    assert frames == [3, 6]  # frame 0 has no hand; 1, 2, 4, 5 skipped by the stride
    assert (tmp_path / "out" / "frames" / "clip" / "000003.jpg").is_file()
    train, everything = PseudoLabelDataset(tmp_path / "out"), PseudoLabelDataset(tmp_path / "out", "all")
    assert len(train) == 2 and len(everything) == 3
    s = train[0]
    assert s.image.shape == (48, 64, 3) and s.hands[0].side == "left" and s.sample_id.endswith("clip.mp4#3")
    np.testing.assert_allclose(s.hands[0].keypoints_2d[:, 2], 0.9)
    np.testing.assert_allclose(s.extras["sigma"][0], 2.0)
