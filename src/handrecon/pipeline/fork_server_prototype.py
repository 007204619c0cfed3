"""Imported by the `--workers` fork server after the pipeline's modules (`batch.WORKER_PRELOAD`): it builds
the workers' reconstructor once when the command passed its settings (`worker_prototype`). Imported anywhere
else, it does nothing."""

from __future__ import annotations

from handrecon.pipeline.worker_prototype import build_in_fork_server

BUILT = build_in_fork_server()
