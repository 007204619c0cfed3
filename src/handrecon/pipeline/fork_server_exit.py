"""Imported last by the `--workers` fork server (`batch.WORKER_PRELOAD`): what the preload loaded is frozen
and the cyclic garbage collector is on again before any worker is forked (`import_collector`; paused by
`fork_server_start`), and the server ends without the interpreter's teardown of torch and the rest
(`process_exit`). Imported anywhere else, it does nothing."""

from __future__ import annotations

from handrecon.pipeline.import_collector import resume_in_fork_server
from handrecon.pipeline.process_exit import exit_fork_server_without_teardown

RESUMED = resume_in_fork_server()
REGISTERED = exit_fork_server_without_teardown()
