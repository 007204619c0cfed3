"""sRGB encoding: known values of the IEC 61966-2-1 curve, round trip, numpy and torch alike."""

import numpy as np
import pytest
import torch

from handrecon.io.colour import linear_to_srgb, srgb_to_linear


def test_known_values_and_round_trip():
    c = np.array([0.0, 0.04045, 0.5, 1.0])
    lin = srgb_to_linear(c)
    assert lin[1] == pytest.approx(0.04045 / 12.92)
    assert lin[2] == pytest.approx(0.2140411, abs=1e-6)  # mid-grey sRGB 0.5 is 21 % linear light
    assert lin[3] == pytest.approx(1.0)
    np.testing.assert_allclose(linear_to_srgb(lin), c, atol=1e-6)


def test_numpy_and_torch_agree():
    c = np.linspace(0.0, 1.0, 101)
    np.testing.assert_allclose(srgb_to_linear(torch.from_numpy(c)).numpy(), srgb_to_linear(c), rtol=1e-12)
    np.testing.assert_allclose(linear_to_srgb(torch.from_numpy(c)).numpy(), linear_to_srgb(c), rtol=1e-12)
    assert isinstance(srgb_to_linear(torch.zeros(2)), torch.Tensor)


def test_linear_to_srgb_clamps():
    assert linear_to_srgb(np.array([-0.5, 2.0])).tolist() == [0.0, pytest.approx(1.0)]
