"""The official-release readers' samples through the rest of the data pipeline: training augmentation
(crops that keep the camera, flips), padded tensors and collation, and a shard round trip."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from handrecon.data import collate_samples, open_dataset
from handrecon.data.augment import AugmentConfig, AugmentedDataset
from handrecon.data.shards import decode_sample, encode_sample

from . import official_fixtures as fx

WRITERS = {
    "interhand26m": (fx.write_interhand, "test", {}),
    "ho3d": (fx.write_ho3d, "train", {}),
    "dexycb": (fx.write_dexycb, "val", {}),
    "arctic": (fx.write_arctic, "val", {}),
    "assemblyhands": (fx.write_assemblyhands, "val", {}),
}


@pytest.mark.parametrize("name", sorted(WRITERS))
def test_reader_samples_augment_collate_and_pack(name, tmp_path):
    write, split, options = WRITERS[name]
    write(tmp_path)
    ds = open_dataset(name, tmp_path, split, **options)
    aug = AugmentedDataset(ds, AugmentConfig.training(size=96), seed=3)
    s = aug[0]
    assert s.image.shape == (96, 96, 3)
    for h in s.hands:
        if h.joints_3d is None or h.keypoints_2d is None:
            continue
        v = h.joints_3d_valid & (h.keypoints_2d[:, 2] > 0)
        p = h.joints_3d[v] @ s.K.T  # the crop's own K projects the 3D labels onto its 2D labels
        np.testing.assert_allclose(p[:, :2] / p[:, 2:], h.keypoints_2d[v, :2], atol=1e-4)
    batch = collate_samples([aug[0], aug[0]])
    assert batch["image"].shape == (2, 3, 96, 96) and torch.equal(batch["side"][0], batch["side"][1])
    back = decode_sample(encode_sample(ds[0], "k", image_format="png"))
    np.testing.assert_array_equal(back.image, ds[0].image)
    for a, b in zip(back.hands, ds[0].hands, strict=True):
        assert a.side == b.side
        if b.joints_3d is not None:
            np.testing.assert_allclose(a.joints_3d, b.joints_3d, atol=1e-6)
