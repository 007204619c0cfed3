"""Dataclass configs as YAML through OmegaConf: the pipeline's settings and training recipes share one form.

A config is a (possibly nested) dataclass of plain fields; `save_config` writes it, `load_config` reads a
YAML file over the dataclass's defaults (unknown keys and wrong types are refused as `SettingError`), and
the result is the dataclass itself, so its own checks (`__post_init__`) run.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, TypeVar

from handrecon.io.atomic import write_text_atomic
from handrecon.io.errors import InputError, SettingError

T = TypeVar("T")


def config_to_yaml(config: Any) -> str:
    """YAML text of a dataclass config instance."""
    from omegaconf import OmegaConf

    return OmegaConf.to_yaml(OmegaConf.structured(config))


def save_config(config: Any, path: str | os.PathLike) -> Path:
    """Write a dataclass config as YAML, atomically."""
    return write_text_atomic(path, config_to_yaml(config))


def config_from_yaml(cls: type[T], text: str, name: Any = "<yaml>") -> T:
    """An instance of dataclass `cls`: its defaults overridden by the YAML `text` (missing keys keep
    their defaults)."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    try:
        loaded = OmegaConf.create(text)
        merged = OmegaConf.merge(OmegaConf.structured(cls), loaded)
        return OmegaConf.to_object(merged)
    except OmegaConfBaseException as e:
        raise SettingError(name, f"not a valid {cls.__name__}: {e}") from e
    except Exception as e:  # YAML syntax errors come from the yaml package
        if isinstance(e, InputError):
            raise
        raise SettingError(name, f"not a valid {cls.__name__} ({type(e).__name__}: {e})") from e


def load_config(cls: type[T], path: str | os.PathLike) -> T:
    """Read a YAML file written by `save_config` (or by hand) into dataclass `cls`."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(p, f"cannot read the config ({type(e).__name__}: {e})") from e
    return config_from_yaml(cls, text, p)
