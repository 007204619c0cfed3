"""The one exception family for bad input: files, arrays, settings and the user's model files.

Batch commands catch `InputError`, print its one-line message and go on with the next input, so every
reason an input cannot be used must surface as this type (or a subclass), never as a decoder's own
exception. `SettingError` is the same for a value the caller chose (a flag, a keyword, a matrix): the CLI
refuses those at start with exit status 2. Every layer may import this module: it imports nothing of
handrecon.
"""

from __future__ import annotations

import os


def one_line(text: object) -> str:
    """`text` on one printable line: control characters (newlines in file names, escape sequences) are
    written as Python escapes, so a message or a progress line can never be split or rewrite the terminal."""
    s = str(text)
    if s.isprintable():
        return s
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in s)


class InputError(ValueError):
    """A bad input, with the message "<path>: <reason>" on a single line.

    `path` keeps the name as given; `name` is its one-line form used in the message.
    """

    def __init__(self, path: str | os.PathLike | None, reason: str) -> None:
        self.path = "<input>" if path is None else os.fspath(path)
        self.name = one_line(self.path)
        self.reason = one_line(" ".join(str(reason).split()))  # one line, whatever the decoder said
        super().__init__(f"{self.name}: {self.reason}")


class SettingError(InputError):
    """A setting the caller chose is out of range: "<setting>: <reason>" (e.g. "--fx: ...", "K: ...")."""


class ModelFileError(InputError):
    """A hand-model file the user supplied (MANO) cannot be used: "<file>: <reason>"."""
