"""Process helpers shared by tests."""

import os

import pytest


def dead_pid() -> int:
    """A process id that no running process has (for stale-temporary tests); skips when none is found."""
    for pid in range(4_000_000, 4_100_000, 997):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return pid
        except PermissionError:
            continue
    pytest.skip("no free process id found")
