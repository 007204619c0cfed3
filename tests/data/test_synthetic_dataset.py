"""Same seed and index, same sample: whatever the process, the order or the number of DataLoader workers."""

import numpy as np
import torch

from handrecon.data.sample import Sample, collate_samples
from handrecon.data.synthetic import SyntheticHandDataset, sample_from_synth
from handrecon.synth.config import SynthConfig

SIZE = 96


def _same(x, y) -> bool:
    if isinstance(x, torch.Tensor):
        return torch.equal(torch.nan_to_num(x), torch.nan_to_num(y)) and torch.equal(x.isnan(), y.isnan())
    return bool(x == y)


def _equal(a: dict, b: dict) -> bool:
    """Every field equal, bit for bit."""
    return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)


def _config(seed: int) -> SynthConfig:
    return SynthConfig(size=SIZE, seed=seed, ego_prob=0.5, occluder_prob=0.5, texture_size=64)


def test_same_index_same_sample_in_any_order():
    ds = SyntheticHandDataset(_config(11), length=4)
    forward = [ds[i].to_tensors() for i in range(4)]
    other = SyntheticHandDataset(_config(11), length=4)  # a fresh engine, indices in reverse order
    backward = [other[i].to_tensors() for i in reversed(range(4))][::-1]
    for a, b in zip(forward, backward, strict=True):
        assert _equal(a, b)
    assert not torch.equal(forward[0]["image"], forward[1]["image"])


def test_different_seeds_give_different_samples():
    a = SyntheticHandDataset(_config(1), length=1)[0]
    b = SyntheticHandDataset(_config(2), length=1)[0]
    assert not np.array_equal(a.image, b.image)
    assert not np.array_equal(a.hands[0].joints_3d, b.hands[0].joints_3d)


def test_samples_follow_the_schema_and_the_engine():
    ds = SyntheticHandDataset(_config(13), length=2)
    for i in range(2):
        s, raw = ds[i], ds.synth_sample(i)
        assert isinstance(s, Sample) and s.source == "synthetic" and s.sample_id == str(i)
        assert len(s.hands) == raw.num_hands
        for k, h in enumerate(s.hands):
            np.testing.assert_array_equal(h.joints_3d, raw.joints3d[k])
            np.testing.assert_array_equal(h.keypoints_2d[:, :2], raw.joints2d[k])
            assert (h.keypoints_2d[:, 2] == 1).all() and h.hand_model == "openhand"
            np.testing.assert_array_equal(s.hand_mask(k), raw.mask(k))
    raw = ds.synth_sample(0)
    det = sample_from_synth(raw, keypoints="detections")
    np.testing.assert_array_equal(det.hands[0].keypoints_2d[:, 2], raw.confidence[0])


def test_dataloader_workers_give_identical_samples():
    ds = SyntheticHandDataset(_config(12), length=4)
    direct = [ds[i].to_tensors() for i in range(4)]
    loader = torch.utils.data.DataLoader(ds, batch_size=2, num_workers=2, shuffle=False, collate_fn=collate_samples)
    batches = list(loader)
    for i, a in enumerate(direct):
        b = {k: v[i % 2] for k, v in batches[i // 2].items()}
        assert _equal(a, b)
