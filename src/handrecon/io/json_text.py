"""Indented JSON text, the same characters as `json.dumps(to_jsonable(obj), indent=n, ensure_ascii=False,
allow_nan=False)` in one pass and at about a third of its cost.

With `indent` set, the standard library falls back from its C encoder to a Python generator that formats
every number of a result one call at a time; a video writes one such document per frame (~13 kB, 4-6 ms
CPU of the writer's thread, holding the interpreter lock the fit needs). Here a list of plain floats (the
coordinates: most of a result's numbers) is formatted by one `str.join` over `float.__repr__`, the number
form `json` writes, and `to_jsonable`'s conversions (arrays, numpy scalars, tensors, dataclasses,
non-finite floats as null) run only on the values that need them.
"""

from __future__ import annotations

import json
import math
from typing import Any

_string = json.encoder.encode_basestring  # `json`'s own escaping with ensure_ascii=False (its C version)
_float = float.__repr__


def dumps_indented(obj: Any, indent: int = 2) -> str:
    """`obj` (whatever `to_jsonable` accepts) as JSON text indented by `indent` spaces, character for
    character what `json.dumps(to_jsonable(obj), indent=indent, ensure_ascii=False)` writes."""
    step = " " * indent

    def encode(o: Any, newline: str) -> str:
        t = type(o)
        if t is float:
            return _float(o) if math.isfinite(o) else "null"
        if t is str:
            return _string(o)
        if t is int:
            return int.__repr__(o)
        if o is None:
            return "null"
        if t is bool:
            return "true" if o else "false"
        if t is list or t is tuple:
            if not o:
                return "[]"
            inner = newline + step
            separator = "," + inner
            if all(type(v) is float for v in o):
                text = separator.join(map(_float, o))
                if "n" not in text:  # all finite ("nan", "inf" are the only float forms with an n)
                    return "[" + inner + text + newline + "]"
            return "[" + inner + separator.join([encode(v, inner) for v in o]) + newline + "]"
        if t is dict:
            if not o:
                return "{}"
            inner = newline + step
            items = [
                _string(k if type(k) is str else str(k)) + ": " + encode(v, inner) for k, v in o.items()
            ]
            return "{" + inner + ("," + inner).join(items) + newline + "}"
        return other(o, newline)

    def other(o: Any, newline: str) -> str:
        """Values of other types: `to_jsonable`'s conversion, then as above; subclasses of the plain types
        (which `to_jsonable` returns unchanged) as `json` writes them."""
        from handrecon.io.atomic import to_jsonable  # (atomic imports this module)

        plain = to_jsonable(o)
        if plain is not o:
            return encode(plain, newline)
        if isinstance(o, bool):
            return "true" if o else "false"
        if isinstance(o, str):
            return _string(o)
        if isinstance(o, int):
            return int.__repr__(o)
        if isinstance(o, float):
            return _float(o) if math.isfinite(o) else "null"
        raise TypeError(f"cannot write a {type(o).__name__} to JSON")  # to_jsonable raises first

    return encode(obj, "\n")
