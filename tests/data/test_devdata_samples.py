"""The labelled dev photos (read in place when present) come out in the sample schema."""

import numpy as np
import pytest

from handrecon.data.devdata import DevDataset, default_devdata_dir, load_labelled


@pytest.fixture(scope="module")
def items():
    if default_devdata_dir() is None:
        pytest.skip("no ../shared/devdata")
    return load_labelled()


def test_every_set_converts_with_its_labels(items):
    seen = set()
    for it in items:
        if it.dataset in seen:
            continue
        seen.add(it.dataset)
        s = it.to_sample()
        assert s.source == it.dataset and len(s.hands) == len(it.hands)
        assert s.K_known == (it.K is not None)
        for h, lab in zip(s.hands, it.hands, strict=True):
            vis = lab.visible
            np.testing.assert_allclose(h.keypoints_2d[vis, :2], lab.keypoints[vis])
            assert (h.keypoints_2d[:, 2] == vis).all()
            if lab.xyz is not None:
                np.testing.assert_allclose(h.joints_3d, lab.xyz)
        assert s.image.shape[2] == 3


def test_dataset_selects_sets(items):
    ds = DevDataset(sets=("interhand2.6m",))
    assert len(ds) == sum(it.dataset == "interhand2.6m" for it in items)
    assert ds[0].K_known
