"""Shards give back what was packed; streams and mixtures are deterministic per sample."""

import numpy as np
import pytest
import torch

from handrecon.data import open_dataset
from handrecon.data.augment import AugmentConfig
from handrecon.data.mixed import MixedDataset, MixedStream
from handrecon.data.sample import HandLabel, Sample, collate_samples
from handrecon.data.shards import ShardDataset, write_shards


def _sample(i: int, source: str = "toy") -> Sample:
    rng = np.random.default_rng(i)
    K = np.array([[80.0 + i, 0, 32.25], [0, 81.5, 31.75], [0, 0, 1]])
    joints = rng.normal(0, 0.03, (21, 3)) + [0, 0, 0.4]
    p = joints @ K.T
    kp = np.concatenate([p[:, :2] / p[:, 2:], np.ones((21, 1))], 1)
    hands = [HandLabel("right" if i % 2 else "left", kp, joints, hand_model="mano", global_orient=rng.normal(size=3),
                       hand_pose=rng.normal(size=(15, 3)), betas=rng.normal(size=10))]  # fmt: skip
    if i % 3 == 0:
        hands.append(HandLabel("right", box=np.array([1.0, 2.0, 30.0, 40.0])))
    mask = (rng.random((64, 64)) < 0.3).astype(np.uint8) if i % 2 else None
    image = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    return Sample(image, K, hands, mask, source, f"s{i}", K_known=i != 4)


@pytest.fixture(scope="module")
def packed(tmp_path_factory):
    root = tmp_path_factory.mktemp("shards")
    samples = [_sample(i) for i in range(10)]
    index = write_shards(samples, root, samples_per_shard=4, image_format="png")
    assert index["count"] == 10 and [s["count"] for s in index["shards"]] == [4, 4, 2]
    return root, samples


def test_shard_round_trip(packed):
    root, samples = packed
    out = list(ShardDataset(root))
    assert [s.extras["key"] for s in out] == [f"toy_{i:09d}" for i in range(10)]
    for a, b in zip(out, samples, strict=True):
        np.testing.assert_array_equal(a.image, b.image)
        assert (a.mask is None) == (b.mask is None) and (a.mask is None or np.array_equal(a.mask, b.mask))
        np.testing.assert_array_equal(a.K, b.K)
        assert a.K_known == b.K_known and a.source == b.source and a.sample_id == b.sample_id
        assert len(a.hands) == len(b.hands)
        for x, y in zip(a.hands, b.hands, strict=True):
            assert x.side == y.side and x.hand_model == y.hand_model
            for name in ("keypoints_2d", "joints_3d", "global_orient", "hand_pose", "betas", "transl", "box"):
                u, v = getattr(x, name), getattr(y, name)
                assert (u is None) == (v is None), name
                if u is not None:
                    np.testing.assert_allclose(u, v, rtol=1e-6, atol=1e-6)


def test_packing_refuses_an_existing_set(packed):
    root, samples = packed
    with pytest.raises(FileExistsError):
        write_shards(samples[:1], root)


def test_streamed_augmentation_is_identical_in_any_worker(packed):
    root, _ = packed
    ds = ShardDataset(root, AugmentConfig.training(48), seed=5)
    one = {s.extras["key"]: s for s in ds}
    loader = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=2)
    two = {s.extras["key"]: s for s in loader}
    assert one.keys() == two.keys() and len(one) == 10
    for k in one:
        np.testing.assert_array_equal(one[k].image, two[k].image)
        np.testing.assert_array_equal(one[k].K, two[k].K)
    batch = collate_samples(list(one.values())[:4])
    assert batch["image"].shape == (4, 3, 48, 48)


def test_open_dataset_reads_shards_and_names_unknown_datasets(packed):
    root, _ = packed
    assert len(list(open_dataset("shards", root))) == 10
    with pytest.raises(ValueError, match="unknown dataset 'nope'"):
        open_dataset("nope", root)


def test_mixture_follows_the_weights_and_is_deterministic():
    a, b = [_sample(i, "a") for i in range(3)], [_sample(i, "b") for i in range(5)]
    mix = MixedDataset([a, b], [3.0, 1.0], length=400, seed=1)
    sources = [mix.source_of(i)[0] for i in range(400)]
    assert abs(sources.count(0) / 400 - 0.75) < 0.07
    again = MixedDataset([a, b], [3.0, 1.0], length=400, seed=1)
    assert [again.source_of(i) for i in range(400)] == [mix.source_of(i) for i in range(400)]
    assert MixedDataset([a, b], [0.0, 1.0], length=5)[0].source == "b"
    with pytest.raises(ValueError):
        MixedDataset([a, b], [1.0], length=5)


def test_stream_mixture_interleaves_and_restarts_streams(packed):
    root, _ = packed
    other = [_sample(i, "other") for i in range(2)]
    mix = MixedStream([ShardDataset(root), other], [1.0, 1.0], length=30, seed=2)
    out = list(mix)
    assert len(out) == 30 and {s.source for s in out} == {"toy", "other"}
    assert [s.sample_id for s in out] == [s.sample_id for s in MixedStream([ShardDataset(root), other], [1, 1], 30, 2)]
