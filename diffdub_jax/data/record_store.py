"""Per-record arrays computed once from a dataset split: `<dir>/<split>/<record:06d>.npy` + `<dir>/info.json`.

Stage 2 reads two such stores: the z_sem of every frame (extract_latents) and, for HuBERT, the
audio features of every record (extract_audio_features). Each array is written to a temporary
name and renamed, so an interrupted extraction resumes by skipping what is on disk; info.json is
written last, so its presence marks a finished extraction. A store may live in a bucket (gs://...):
local stores are memory-mapped, remote ones read whole.
"""

from __future__ import annotations

import io
import json

import ml_collections
import numpy as np
from etils import epath

from diffdub_jax.data.files import is_url, write_bytes, write_json
from diffdub_jax.errors import MissingFileError


class RecordStore:
    """One store directory; `what` and `command` name it in errors ('latents', the command that makes them)."""

    def __init__(self, directory: str, what: str, command: str):
        self.directory, self.what, self.command = directory, what, command

    def path(self, split: str, record_index: int) -> epath.Path:
        return epath.Path(self.directory, split, f"{record_index:06d}.npy")

    def has(self, split: str, record_index: int) -> bool:
        return self.path(split, record_index).is_file()

    def load(self, split: str, record_index: int) -> np.ndarray:
        """The record's array (memory-mapped when local); a clear error if extraction has not reached it."""
        path = self.path(split, record_index)
        if not path.is_file():
            raise MissingFileError(f"{path}: no {self.what} for record {record_index} of split {split!r}; run "
                                   f"{self.command} first")
        if is_url(self.directory):
            return np.load(io.BytesIO(path.read_bytes()))
        return np.load(path, mmap_mode="r")

    def save(self, split: str, record_index: int, array: np.ndarray) -> None:
        path = self.path(split, record_index)
        path.parent.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        np.save(buffer, array)
        write_bytes(path, buffer.getvalue())

    def write_info(self, info: dict) -> None:
        """Records what was extracted (written last: its presence marks a finished extraction)."""
        write_json(str(epath.Path(self.directory, "info.json")), info)

    def read_info(self) -> ml_collections.ConfigDict:
        path = epath.Path(self.directory, "info.json")
        if not path.is_file():
            raise MissingFileError(f"{path} is missing: {self.directory} holds no finished extraction of "
                                   f"{self.what}; run {self.command}")
        return ml_collections.ConfigDict(json.loads(path.read_text(encoding="utf-8")))


def latents(directory: str) -> RecordStore:
    """z_sem of every frame, (num_frames, latent_dim) float32 per record."""
    return RecordStore(directory, "latents", f"python -m diffdub_jax.extract_latents --output={directory}")


def audio_features(directory: str) -> RecordStore:
    """Audio features of every record as the motion config's frontend makes them (float16 HuBERT states)."""
    return RecordStore(directory, "audio features",
                       f"python -m diffdub_jax.extract_audio_features --config=... --output={directory}")
