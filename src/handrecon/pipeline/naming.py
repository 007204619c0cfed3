"""Output file names of a batch's inputs (no torch here: the parent of a worker pool names the outputs)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


def safe_stem(name: str) -> str:
    """A file-name stem that is one printable line, holds no path separator and is not hidden: other
    characters (newlines, tabs, escape codes) become "_"."""
    s = "".join(c if c.isprintable() and c not in "/\\" else "_" for c in name)
    s = "_" + s[1:] if s.startswith(".") else s
    return s or "_"


def output_stems(paths: Sequence[Path]) -> list[str]:
    """One output stem per input, distinct (case-insensitively, for case-insensitive file systems): the
    file's safe stem, then "_2", "_3", ... for a later input of the same name (a/same.jpg, b/same.jpg,
    same.png), so outputs of distinct inputs never overwrite each other."""
    base = [safe_stem(Path(p).stem) for p in paths]
    taken = {b.casefold() for b in base if base.count(b) == 1}
    stems: list[str] = []
    seen: set[str] = set()
    for b in base:
        stem, k = b, 1
        while stem.casefold() in seen or (k > 1 and stem.casefold() in taken):
            k += 1
            stem = f"{b}_{k}"
        seen.add(stem.casefold())
        stems.append(stem)
    return stems
