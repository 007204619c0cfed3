"""The workers' reconstructor, built once in the `--workers` fork server instead of once per worker.

Each worker used to build its own `HandReconstructor` (hand models, priors, the fitter: ~0.07 s of CPU) and,
at its first photo of each side, the hand's collider for the penetration test (~0.06 s per side): the same
objects, computed again in every worker. When the command starts the fork server it passes the
reconstructor's settings (`server_environment`); the server builds the reconstructor and both colliders at
the end of its preload (`build_in_fork_server`, from the preload module `fork_server_prototype`), and every
worker forked from it takes that object (`take`) when its job asks for the same factory and settings; else
it builds its own, as before. Same objects, same results: the prototype is what `factory(**settings)`
returns, warmed as a first photo would warm it.

Nothing in the server may start a thread (it forks): torch runs with one thread there, and the detector's
LiteRT interpreters are made with the worker's thread count (`detect.litert.interpreter_threads`, fixed
here to what a worker gets); those with one thread (the default) are made in the server
(`detect.litert.open_interpreters`: ~0.11 s per worker otherwise, at its first photo), others in each worker
at first use. A build that fails leaves no
prototype: the workers build their own and report any error as before.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
from collections.abc import Callable

PROTOTYPE_ENV = "HANDRECON_WORKER_PROTOTYPE"

_PROTOTYPE: tuple[str, object] | None = None  # (key, reconstructor), in the fork server and its workers


def factory_name(factory: Callable) -> str | None:
    """"module:qualname" of a module-level function the server can import, else None."""
    module, name = getattr(factory, "__module__", None), getattr(factory, "__qualname__", "")
    if not module or not name or "<" in name or "." in name:
        return None
    return f"{module}:{name}"


def prototype_key(factory: Callable, settings: dict) -> str | None:
    """What identifies a prototype: the factory's name and its keywords (paths as text), or None when they
    cannot be written down (then no prototype)."""
    name = factory_name(factory)
    if name is None:
        return None
    try:
        return json.dumps({"factory": name, "settings": settings}, sort_keys=True, default=_as_text)
    except (TypeError, ValueError):
        return None


def _as_text(value: object) -> str:
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"not a setting: {type(value).__name__}")


def server_environment(factory: Callable, settings: dict) -> dict[str, str]:
    """The environment entries that make a fork server started now build this prototype."""
    key = prototype_key(factory, settings)
    return {} if key is None else {PROTOTYPE_ENV: key}


def build_in_fork_server() -> bool:
    """In the fork server, when the command asked for it: build the prototype (one torch thread, one LiteRT
    thread per interpreter, as in a worker) and warm its colliders. Elsewhere nothing. Returns whether a
    prototype was built."""
    global _PROTOTYPE
    from handrecon.pipeline.process_exit import running_in_fork_server

    key = os.environ.get(PROTOTYPE_ENV)
    if not key or not running_in_fork_server():
        return False
    try:
        import torch

        from handrecon.detect.litert import fixed_interpreter_threads, open_interpreters
        from handrecon.priors.penetration import collider_for

        torch.set_num_threads(1)  # before any torch op: no intra-op thread pool in a process that forks
        spec = json.loads(key)
        module, name = spec["factory"].split(":")
        factory = getattr(importlib.import_module(module), name)
        # what `interpreter_threads` gives a worker: its $HANDRECON_LITERT_THREADS, else 1 (the server is no
        # pool's child, so it would get the lone process's count)
        given = bool(os.environ.get("HANDRECON_LITERT_THREADS", "").strip())
        with contextlib.nullcontext() if given else fixed_interpreter_threads(1):
            rec = factory(**spec["settings"])
        fitter = getattr(getattr(rec, "pipeline", None), "fitter", None)
        for model in getattr(fitter, "models", {}).values():
            collider_for(model)
        open_interpreters()  # the detector's one-thread LiteRT interpreters: no thread starts
    except Exception:  # the workers build their own and report the error
        return False
    _PROTOTYPE = (key, rec)
    return True


def take(factory: Callable, settings: dict):
    """In a worker: the server's prototype if it was built for this factory and these settings (once: the
    worker owns it from then on), else None."""
    global _PROTOTYPE
    if _PROTOTYPE is None:
        return None
    key, rec = _PROTOTYPE
    _PROTOTYPE = None
    return rec if prototype_key(factory, settings) == key else None
