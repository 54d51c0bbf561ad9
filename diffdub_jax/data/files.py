"""Files written whole or not at all (a reader, or a crash, never sees half of one), and files
behind URLs (gs://...) brought to the local disk for tools that read only local paths (ffmpeg)."""

from __future__ import annotations

import json
import os

from etils import epath

from diffdub_jax.errors import MissingFileError


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Writes data to path (local or a gs:// URL) through a temporary file, then renames it."""
    temporary = epath.Path(f"{os.fspath(path)}.tmp")
    temporary.write_bytes(data)
    temporary.replace(epath.Path(path))


def write_json(path: str, value: dict) -> None:
    """Writes value to path (local or a gs:// URL) as indented JSON, whole or not at all."""
    write_bytes(path, json.dumps(value, indent=2).encode("utf-8"))


def is_url(path: str | os.PathLike | None) -> bool:
    """Whether path names remote storage (gs://, s3://...) rather than a local file."""
    return path is not None and "://" in os.fspath(path)


def local_copy(path: str, directory: str) -> str:
    """path itself when local; else a copy of the remote file in directory (same name), whose
    absence is a FileNotFoundError naming the URL."""
    if not is_url(path):
        return path
    source = epath.Path(path)
    if not source.is_file():
        raise MissingFileError(f"{path}: no such file")
    local = os.path.join(directory, source.name)
    source.copy(epath.Path(local), overwrite=True)
    return local


def check_remote_destination(path: str) -> None:
    """Fails fast when a remote output's folder does not exist (local outputs have their own check)."""
    parent = epath.Path(path).parent
    if not parent.exists():
        raise MissingFileError(f"{path}: output folder {parent} does not exist")


def upload(local: str, path: str) -> None:
    """Copies a finished local file to path (remote) through a temporary name, then renames it."""
    temporary = epath.Path(path + ".tmp")
    epath.Path(local).copy(temporary, overwrite=True)
    temporary.replace(epath.Path(path))
