"""Imported last by the `--workers` fork server (`batch.WORKER_PRELOAD`): the server then ends without the
interpreter's teardown of torch and the rest (`process_exit`). Imported anywhere else, it does nothing."""

from __future__ import annotations

from handrecon.pipeline.process_exit import exit_fork_server_without_teardown

REGISTERED = exit_fork_server_without_teardown()
