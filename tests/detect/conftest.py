"""Fixtures shared by the detector tests: the bundled demo photo and one thorough detector per module."""

from __future__ import annotations

from importlib import resources

import numpy as np
import pytest

from handrecon.detect.multi_source import ThoroughHands
from handrecon.io import load_image


@pytest.fixture(scope="module")
def demo_rgb():
    with resources.as_file(resources.files("handrecon.assets") / "demo_hand.jpg") as path:
        return load_image(path).rgb


@pytest.fixture(scope="module")
def thorough():
    with ThoroughHands() as det:
        yield det


def hamer_photo(name: str) -> np.ndarray:
    """RGB of ../shared/devdata/photos_hamer/NAME; the test is skipped where the dev photos are absent."""
    from PIL import Image

    from handrecon.data.devdata import default_devdata_dir

    root = default_devdata_dir()
    path = None if root is None else root / "photos_hamer" / name
    if path is None or not path.is_file():
        pytest.skip("photos_hamer (../shared/devdata/photos_hamer) not present")
    return np.asarray(Image.open(path).convert("RGB"))
