"""Fixtures shared by the io tests."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture
def photo() -> np.ndarray:
    """A 48x64 RGB image with smooth structure (compresses like a photo) and a marked top-left corner."""
    yy, xx = np.mgrid[0:48, 0:64]
    img = np.stack([xx * 4, yy * 5, (xx + yy) * 2], -1).astype(np.uint8)
    img[:8, :8] = (255, 0, 0)
    return img


@pytest.fixture(scope="session")
def devdata_photos():
    """devdata's photos_hamer folder (real photos with odd EXIF), or a skip."""
    from handrecon.data.devdata import default_devdata_dir

    root = default_devdata_dir()
    if root is None or not (root / "photos_hamer").is_dir():
        pytest.skip("devdata folder (../shared/devdata/photos_hamer) not present")
    return root / "photos_hamer"
