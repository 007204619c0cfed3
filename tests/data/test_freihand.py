"""The FreiHAND-layout reader returns what the writer wrote, and reads FreiHAND's own conventions."""

import json

import numpy as np
import pytest
from PIL import Image

from handrecon.data.freihand import FreiHANDDataset
from handrecon.data.freihand_writer import FreiHANDWriter, encode_sample, middle_bone_length
from handrecon.data.sample import SIDES, Sample


@pytest.fixture(scope="module")
def written(tmp_path_factory, samples):
    root = tmp_path_factory.mktemp("sets") / "synth"
    with FreiHANDWriter(root) as w:
        for s in samples[:5]:
            w.add(encode_sample(s, jpeg_quality=100))
        w.close({"note": "test"})
    return root, samples[:5]


def test_reader_returns_what_the_writer_wrote(written):
    root, samples = written
    ds = FreiHANDDataset(root, load_vertices=True)
    assert len(ds) == len(samples) == ds.num_annotations
    for i, s in enumerate(samples):
        item = ds.raw(i)
        np.testing.assert_allclose(item["xyz"], s.joints3d[0], atol=1e-6)
        np.testing.assert_allclose(item["K"], s.K, atol=1e-6)
        np.testing.assert_allclose(item["verts"], s.vertices[0], atol=1e-6)
        mano = np.concatenate([s.global_orient[0], s.hand_pose[0].reshape(-1), s.betas[0], s.transl[0]])
        np.testing.assert_allclose(item["mano"], mano, atol=1e-6)
        assert item["scale"] == pytest.approx(middle_bone_length(s.joints3d[0]), abs=1e-6)
        np.testing.assert_allclose(item["uv"], s.joints2d[0], atol=1e-3)
        np.testing.assert_array_equal(item["labels"], s.objects)
        np.testing.assert_array_equal(item["mask"], s.hand_mask)  # JPEG masks threshold back exactly
        assert np.abs(item["image"].astype(int) - s.image.astype(int)).mean() < 2.0  # JPEG at quality 100
        for key, value in (("joints2d", s.joints2d), ("detections", s.detections), ("confidence", s.confidence)):
            np.testing.assert_array_equal(item[key], value)
        np.testing.assert_array_equal(item["occlusion"], s.occlusion)
        np.testing.assert_array_equal(item["side"], s.side)
        assert item["synth_index"] == s.index
        assert bool(item["egocentric"]) == s.egocentric
    assert ds.meta["note"] == "test" and ds.meta["count"] == len(samples)


def test_synthetic_set_reads_as_samples_of_the_schema(written):
    root, samples = written
    ds = FreiHANDDataset(root)
    assert any(s.num_hands == 2 for s in samples)
    for i, s in enumerate(samples):
        out = ds[i]
        assert isinstance(out, Sample) and out.source == "synthetic" and out.sample_id == f"{i:08d}"
        slots = [k for k in range(2) if s.side[k] >= 0]
        assert [h.side for h in out.hands] == [SIDES[s.side[k]] for k in slots]
        for h, k in zip(out.hands, slots, strict=True):
            np.testing.assert_allclose(h.joints_3d, s.joints3d[k], atol=1e-6)
            np.testing.assert_allclose(h.keypoints_2d[:, :2], s.joints2d[k], atol=1e-5)
            np.testing.assert_allclose(h.hand_pose, s.hand_pose[k], atol=1e-6)
            np.testing.assert_allclose(h.transl, s.transl[k], atol=1e-6)
            assert h.hand_model == "openhand"
            np.testing.assert_array_equal(out.hand_mask(len([x for x in slots if x < k])), s.mask(k))


def test_writer_leaves_nothing_behind_when_interrupted(tmp_path, samples):
    root = tmp_path / "broken"
    with pytest.raises(RuntimeError), FreiHANDWriter(root) as w:
        w.add(encode_sample(samples[0]))
        raise RuntimeError("interrupted")
    assert not root.exists()
    assert list(tmp_path.iterdir()) == []


def test_writer_refuses_a_non_empty_folder(tmp_path):
    (tmp_path / "x.txt").write_text("keep")
    with pytest.raises(FileExistsError):
        FreiHANDWriter(tmp_path)


def test_reader_maps_image_versions_to_annotations_as_freihand_does(tmp_path):
    """FreiHAND has several images per annotation (image i uses annotation i mod N) and masks for the first N."""
    n = 2
    (tmp_path / "training" / "rgb").mkdir(parents=True)
    (tmp_path / "training" / "mask").mkdir()
    for i in range(2 * n):
        Image.fromarray(np.full((8, 8, 3), i * 40, np.uint8)).save(tmp_path / "training" / "rgb" / f"{i:08d}.jpg")
    for i in range(n):
        Image.fromarray(np.full((8, 8), 255 * i, np.uint8)).save(tmp_path / "training" / "mask" / f"{i:08d}.jpg")
    xyz = [[[0.01 * j, 0.0, 0.5 + a] for j in range(21)] for a in range(n)]
    K = [[[100.0, 0, 4], [0, 100.0, 4], [0, 0, 1]]] * n
    (tmp_path / "training_xyz.json").write_text(json.dumps(xyz))
    (tmp_path / "training_K.json").write_text(json.dumps(K))
    (tmp_path / "training_mano.json").write_text(json.dumps([[[0.1] * 61]] * n))
    (tmp_path / "training_scale.json").write_text(json.dumps([0.03, 0.04]))
    ds = FreiHANDDataset(tmp_path)
    assert len(ds) == 4 and ds.num_annotations == 2
    item = ds.raw(3)
    assert item["annotation_index"] == 1
    np.testing.assert_allclose(item["xyz"], xyz[1])
    assert item["mask"].all() and not ds.raw(2)["mask"].any()
    assert item["mano"].shape == (61,) and item["scale"] == pytest.approx(0.04)
    assert "verts" not in item and "labels" not in item
    sample = ds[3]  # FreiHAND as the schema: one right hand with MANO parameters and its mask
    assert sample.source == "freihand" and [h.side for h in sample.hands] == ["right"]
    h = sample.hands[0]
    np.testing.assert_allclose(h.joints_3d, xyz[1])
    assert h.hand_model == "mano" and h.joints_3d_valid.all()
    np.testing.assert_allclose(h.global_orient, [0.1] * 3)
    np.testing.assert_allclose(h.keypoints_2d[:, :2], np.asarray(xyz[1])[:, :2] / np.asarray(xyz[1])[:, 2:] * 100 + 4)
    assert (sample.mask == 1).all() and ds[2].mask.max() == 0
