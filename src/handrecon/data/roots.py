"""Where a dataset's release lives when a command or `open_dataset` is given no folder.

In order: the environment variable HANDRECON_<NAME>_ROOT (e.g. HANDRECON_HO3D_ROOT); an entry `NAME: PATH`
of the datasets config file (HANDRECON_DATASETS, default ~/.config/handrecon/datasets.yaml); a folder
named NAME under HANDRECON_DATA_ROOT (one folder holding every release under the names of
`open_dataset`). None when none applies.
"""

from __future__ import annotations

import os
from pathlib import Path

from handrecon.io.errors import InputError

CONFIG_ENV = "HANDRECON_DATASETS"
DATA_ROOT_ENV = "HANDRECON_DATA_ROOT"
DEFAULT_CONFIG = Path("~/.config/handrecon/datasets.yaml")


def _config() -> dict:
    path = Path(os.environ.get(CONFIG_ENV, DEFAULT_CONFIG)).expanduser()
    if not path.is_file():
        if CONFIG_ENV in os.environ:
            raise InputError(path, f"datasets config not found (named by {CONFIG_ENV})")
        return {}
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise InputError(path, f"not valid YAML ({e})") from None
    if not isinstance(data, dict):
        raise InputError(path, "expected a mapping of dataset names to folders")
    return data


def resolve_data_root(name: str) -> Path | None:
    env = os.environ.get(f"HANDRECON_{name.upper()}_ROOT")
    if env:
        return Path(env).expanduser()
    entry = _config().get(name)
    if entry:
        return Path(str(entry)).expanduser()
    base = os.environ.get(DATA_ROOT_ENV)
    if base and (Path(base).expanduser() / name).is_dir():
        return Path(base).expanduser() / name
    return None
