"""The ship tool's sigma calibration (tools/ship_landmark_init.py): the per-joint temperature and the
coverage it reports, on errors of known spread."""

from __future__ import annotations

import numpy as np
import pytest

from tests.tools import load_tool


@pytest.fixture(scope="module")
def ship():
    return load_tool("ship_landmark_init")


def _records(n: int, true_sigma: float, predicted_sigma: float, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    gt = rng.normal(0, 0.05, (n, 21, 3)) + [0.0, 0.0, 0.5]
    err = rng.normal(0, true_sigma, (n, 21, 3))
    err[:, 0] = 0.0  # the wrist: root-relative figures hold it fixed
    return {"pred": gt + err, "gt": gt, "sigma": np.full((n, 21), predicted_sigma)}


def test_the_temperature_rescales_an_over_confident_sigma_to_the_spread(ship):
    r = _records(4000, true_sigma=0.02, predicted_sigma=0.01)
    s = ship.temperature(r)
    assert s[0] == 1.0
    assert np.allclose(s[1:], 2.0, rtol=0.05)
    err = (r["pred"] - r["pred"][:, :1]) - (r["gt"] - r["gt"][:, :1])
    before = ship.coverage(err, r["sigma"])
    after = ship.coverage(err, r["sigma"] * s)
    assert before[0] < 45 and before[1] < 75  # 1 and 2 sigma of the true spread: 38 % and 68 %
    assert abs(after[0] - 68.3) < 2 and abs(after[1] - 95.4) < 1.5


def test_coverage_counts_coordinates_within_one_and_two_sigma(ship):
    err = np.zeros((1, 21, 3))
    err[0, 1:, 0] = 0.5  # within 1 sigma
    err[0, 1:, 1] = 1.5  # within 2 sigma only
    err[0, 1:, 2] = 3.0  # outside
    one, two = ship.coverage(err, np.ones((1, 21)))
    assert one == pytest.approx(100 / 3) and two == pytest.approx(200 / 3)
