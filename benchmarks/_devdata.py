"""Where the benchmarks read the labelled dev photos: `--devdata`, else ../shared/devdata beside the checkout."""

from __future__ import annotations

from pathlib import Path


def devdata_root(given: Path | None) -> Path | None:
    """`given`, else the default dev-data folder; None (saying so) when there is none, so the benchmark stops.
    handrecon is imported here, not at the top, so a script's `--src` tree is the one read."""
    from handrecon.data.devdata import default_devdata_dir

    root = given or default_devdata_dir()
    if root is None:
        print("no devdata folder (../shared/devdata): nothing to measure")
    return root
