"""Files written whole or not at all: a reader (or a crash) never sees half of one."""

from __future__ import annotations

import json

from etils import epath


def write_json(path: str, value: dict) -> None:
    """Writes value to path (local or a gs:// URL) as indented JSON through a temporary file, then renames it."""
    temporary = epath.Path(path + ".tmp")
    temporary.write_text(json.dumps(value, indent=2), encoding="utf-8")
    temporary.replace(epath.Path(path))
