"""MetricReport accumulation, statistics, tables and JSON export; side-by-side comparison."""

from __future__ import annotations

import json
import math

import pytest
import torch

from handrecon.eval import MetricReport, format_comparison


def test_accumulates_batches_and_ignores_nan():
    r = MetricReport("ours")
    r.add("PA-MPJPE [mm]", torch.tensor([1.0, 2.0]))
    r.add("PA-MPJPE [mm]", torch.tensor([[3.0], [float("nan")]]))
    r.update({"F@5mm": [0.5, 0.7], "PA-MPJPE [mm]": 10.0})
    assert r.metrics == ["PA-MPJPE [mm]", "F@5mm"]
    assert r.count("PA-MPJPE [mm]") == 4
    assert r.mean("PA-MPJPE [mm]") == pytest.approx(4.0)
    assert r.median("PA-MPJPE [mm]") == pytest.approx(2.5)
    assert r.mean("F@5mm") == pytest.approx(0.6)
    assert r.count("missing") == 0 and math.isnan(r.mean("missing"))


def test_merge_and_summary():
    a, b = MetricReport("a"), MetricReport("b")
    a.add("MPJPE [mm]", [1.0, 3.0])
    b.add("MPJPE [mm]", [5.0])
    a.merge(b)
    assert a.summary() == {"MPJPE [mm]": {"mean": 3.0, "median": 3.0, "count": 3.0}}


def test_table_is_aligned_and_names_units():
    r = MetricReport("ours")
    r.add("PA-MPJPE [mm]", [7.123, 8.0])
    r.add("F@15mm", [0.98765])
    lines = r.format_table(precision=2).splitlines()
    assert lines[0] == "ours"
    header, rule, *rows = lines[1:]
    assert header.split() == ["metric", "mean", "median", "count"]
    assert rows[0].split() == ["PA-MPJPE", "[mm]", "7.56", "7.56", "2"]
    assert rows[1].split() == ["F@15mm", "0.99", "0.99", "1"]
    # Right-aligned numeric columns end at the same character position in every line.
    ends = {len(line) for line in (header, rule, *rows)}
    assert len(ends) == 1
    assert str(r) == r.format_table()


def test_to_dict_is_strict_json():
    r = MetricReport("ours")
    r.add("PSNR [dB]", [float("inf"), 30.0])
    r.add("MRRPE [mm]", [float("nan")])
    d = r.to_dict(include_values=True)
    text = json.dumps(d, allow_nan=False)
    back = json.loads(text)
    assert back["name"] == "ours"
    assert back["metrics"]["PSNR [dB]"] == {"mean": None, "median": None, "count": 2, "values": [None, 30.0]}
    assert back["metrics"]["MRRPE [mm]"]["count"] == 0
    assert "values" not in r.to_dict()["metrics"]["PSNR [dB]"]


def test_side_by_side_comparison_has_one_column_per_method():
    a, b = MetricReport("method A"), MetricReport("B")
    a.add("PA-MPJPE [mm]", [7.0, 9.0])
    b.add("PA-MPJPE [mm]", [6.5])
    b.add("F@5mm", [0.8])
    text = format_comparison([a, b])
    lines = text.splitlines()
    assert lines[0] == "mean"
    assert lines[1].split() == ["metric", "method", "A", "B"]
    assert lines[3].split() == ["PA-MPJPE", "[mm]", "8.00", "6.50"]
    assert lines[4].split() == ["F@5mm", "-", "0.80"]
    counts = format_comparison([a, b], statistic="count").splitlines()
    assert counts[3].split()[-2:] == ["2", "1"]
    with pytest.raises(ValueError):
        format_comparison([a], statistic="max")
