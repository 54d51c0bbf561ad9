"""Config files by path, as `--config=configs/renderer.py:synthetic` names them on a command line.

For Python callers (tests, benchmarks, notebooks) that want the same ConfigDict a CLI's
config_flags would give, without putting configs/ on sys.path.
"""

from __future__ import annotations

import importlib.util
import os

import ml_collections


def load(spec: str) -> ml_collections.ConfigDict:
    """get_config(PRESET) of the file in `PATH[:PRESET]` (no preset: get_config())."""
    path, _, preset = spec.partition(":")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no such config file (configs live in the repository's configs/)")
    module_spec = importlib.util.spec_from_file_location(f"config_{os.path.basename(path)[:-3]}", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module.get_config(preset) if preset else module.get_config()
