"""The benchmarks' config loader: configs/<name>.py:<preset> as `--config` reads it.

Not tests/conftest.py's: importing that turns XLA's code optimisation off for the tests' sake,
which would slow every measured program down."""

import pathlib

from ml_collections import ConfigDict
from ml_collections.config_flags.config_flags import ConfigFileFlagParser

CONFIGS = pathlib.Path(__file__).resolve().parent.parent / "configs"


def load_config(name: str, preset: str) -> ConfigDict:
    """configs/<name>.py:<preset>, unlocked so a benchmark may change fields."""
    return ConfigFileFlagParser("config", lock_config=False).parse(f"{CONFIGS / name}.py:{preset}")
