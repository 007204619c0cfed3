"""Fixtures shared by the detector tests: the bundled demo photo and one thorough detector per module."""

from __future__ import annotations

from importlib import resources

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
