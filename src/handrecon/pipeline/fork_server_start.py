"""Imported first by the `--workers` fork server (`batch.WORKER_PRELOAD`): the cyclic garbage collector is
off while the server imports torch and the pipeline (`import_collector`; `fork_server_exit`, imported last,
freezes what was loaded and turns it on again). Imported anywhere else, it does nothing."""

from __future__ import annotations

from handrecon.pipeline.import_collector import pause_in_fork_server

PAUSED = pause_in_fork_server()
