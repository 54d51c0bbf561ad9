"""Files written whole or not at all: a reader (or a crash) never sees half of one."""

from __future__ import annotations

import json
import os


def write_json(path: str, value: dict) -> None:
    """Writes value to path as indented JSON through a temporary file, then renames it."""
    with open(path + ".tmp", "w", encoding="utf-8") as handle:
        json.dump(value, handle, indent=2)
    os.replace(path + ".tmp", path)
