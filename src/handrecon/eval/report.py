"""Accumulating per-sample metric values over a dataset and printing them as aligned text tables.

Metric names carry their unit, e.g. 'PA-MPJPE [mm]'. NaN values (a sample where a metric is undefined,
e.g. no valid joint) are kept out of every statistic and of the count; +-inf values (PSNR of identical
images) are counted and enter the mean and the median as they are.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from statistics import median as _median

import torch

STATISTICS: tuple[str, ...] = ("mean", "median", "count")


def _as_floats(values: torch.Tensor | float | Iterable[float]) -> list[float]:
    if isinstance(values, torch.Tensor):
        return [float(v) for v in values.detach().to("cpu", torch.float64).reshape(-1)]
    if isinstance(values, (int, float)):
        return [float(values)]
    return [float(v) for v in values]


def _json_number(x: float) -> float | None:
    """Strict JSON has no NaN or infinity; such values become null."""
    return x if math.isfinite(x) else None


@dataclass
class MetricReport:
    """Per-sample values of several metrics for one method (or one run), in insertion order."""

    name: str = ""
    values: dict[str, list[float]] = field(default_factory=dict)

    def add(self, metric: str, values: torch.Tensor | float | Iterable[float]) -> None:
        """Append per-sample values (a tensor of any shape is flattened, e.g. a metric's (B,) output)."""
        self.values.setdefault(metric, []).extend(_as_floats(values))

    def update(self, metrics: Mapping[str, torch.Tensor | float | Iterable[float]]) -> None:
        """`add` each entry of a {metric name: values} mapping, e.g. the output of `hand_metrics`."""
        for metric, values in metrics.items():
            self.add(metric, values)

    def merge(self, other: MetricReport) -> None:
        """Append all values of `other` (e.g. reports of dataset shards)."""
        self.update(other.values)

    @property
    def metrics(self) -> list[str]:
        return list(self.values)

    def _kept(self, metric: str) -> list[float]:
        return [v for v in self.values.get(metric, []) if not math.isnan(v)]

    def count(self, metric: str) -> int:
        """Number of non-NaN values of `metric` (0 when the metric was never added)."""
        return len(self._kept(metric))

    def mean(self, metric: str) -> float:
        """Mean of the non-NaN values; NaN when there are none."""
        kept = self._kept(metric)
        return math.fsum(kept) / len(kept) if kept else math.nan

    def median(self, metric: str) -> float:
        """Median of the non-NaN values; NaN when there are none."""
        kept = self._kept(metric)
        return float(_median(kept)) if kept else math.nan

    def statistic(self, metric: str, which: str) -> float:
        """One of `STATISTICS` by name."""
        if which not in STATISTICS:
            raise ValueError(f"unknown statistic {which!r}; expected one of {STATISTICS}")
        return float(getattr(self, which)(metric))

    def summary(self) -> dict[str, dict[str, float]]:
        """{metric: {'mean': ..., 'median': ..., 'count': ...}}."""
        return {m: {s: self.statistic(m, s) for s in STATISTICS} for m in self.values}

    def to_dict(self, include_values: bool = False) -> dict:
        """JSON-ready dict (non-finite numbers become null); per-sample values only when asked."""
        out: dict = {"name": self.name, "metrics": {}}
        for metric, stats in self.summary().items():
            entry: dict = {"mean": _json_number(stats["mean"]), "median": _json_number(stats["median"])}
            entry["count"] = int(stats["count"])
            if include_values:
                entry["values"] = [_json_number(v) for v in self.values[metric]]
            out["metrics"][metric] = entry
        return out

    def format_table(self, precision: int = 2) -> str:
        """Aligned text table: one row per metric, columns mean, median, count."""
        rows = [
            [m, _fmt(self.mean(m), precision), _fmt(self.median(m), precision), str(self.count(m))] for m in self.values
        ]
        title = f"{self.name}\n" if self.name else ""
        return title + _table(["metric", *STATISTICS], rows)

    def __str__(self) -> str:
        return self.format_table()


def _fmt(x: float, precision: int) -> str:
    return "-" if math.isnan(x) else f"{x:.{precision}f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """First column left-aligned, the others right-aligned, widths fitted to the content."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = [c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)]
        return "  ".join([first, *rest]).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule, *(line(r) for r in rows)])


def format_comparison(reports: Sequence[MetricReport], statistic: str = "mean", precision: int = 2) -> str:
    """Side-by-side table of several reports: rows = metrics (in first-seen order), columns = reports
    (by name, or 'method i' when unnamed), cells = `statistic`; '-' where a report lacks a metric."""
    if statistic not in STATISTICS:
        raise ValueError(f"unknown statistic {statistic!r}; expected one of {STATISTICS}")
    metrics: list[str] = []
    for report in reports:
        metrics.extend(m for m in report.metrics if m not in metrics)
    names = [r.name or f"method {i + 1}" for i, r in enumerate(reports)]
    rows = []
    for m in metrics:
        cells = [m]
        for r in reports:
            if r.count(m) == 0:
                cells.append("-")
            elif statistic == "count":
                cells.append(str(r.count(m)))
            else:
                cells.append(_fmt(r.statistic(m, statistic), precision))
        rows.append(cells)
    return f"{statistic}\n" + _table(["metric", *names], rows)
