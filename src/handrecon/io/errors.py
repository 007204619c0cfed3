"""The one exception type for bad input files and arrays.

Batch commands catch `InputError`, print its one-line message and go on with the next input, so every
reason a file cannot be used must surface as this type, never as a decoder's own exception.
"""

from __future__ import annotations

import os


class InputError(ValueError):
    """A bad input, with the message "<path>: <reason>" on a single line."""

    def __init__(self, path: str | os.PathLike | None, reason: str) -> None:
        self.path = "<input>" if path is None else os.fspath(path)
        self.reason = " ".join(str(reason).split())  # one line, whatever the decoder said
        super().__init__(f"{self.path}: {self.reason}")
