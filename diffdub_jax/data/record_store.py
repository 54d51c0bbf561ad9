"""Per-record arrays computed once from a dataset split: `<dir>/<split>/<record:06d>.npy` + `<dir>/info.json`.

Stage 2 reads two such stores: the z_sem of every frame (extract_latents) and, for HuBERT, the
audio features of every record (extract_audio_features). Each array is written to a temporary
name and renamed, so an interrupted extraction resumes by skipping what is on disk; info.json is
written last, so its presence marks a finished extraction.
"""

from __future__ import annotations

import json
import os

import ml_collections
import numpy as np

from diffdub_jax.data.files import write_json


class RecordStore:
    """One store directory; `what` and `command` name it in errors ('latents', the command that makes them)."""

    def __init__(self, directory: str, what: str, command: str):
        self.directory, self.what, self.command = directory, what, command

    def path(self, split: str, record_index: int) -> str:
        return os.path.join(self.directory, split, f"{record_index:06d}.npy")

    def has(self, split: str, record_index: int) -> bool:
        return os.path.isfile(self.path(split, record_index))

    def load(self, split: str, record_index: int) -> np.ndarray:
        """The record's array (memory-mapped); a clear error if extraction has not reached it."""
        path = self.path(split, record_index)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{path}: no {self.what} for record {record_index} of split {split!r}; run "
                                    f"{self.command} first")
        return np.load(path, mmap_mode="r")

    def save(self, split: str, record_index: int, array: np.ndarray) -> None:
        path = self.path(split, record_index)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path + ".tmp", "wb") as handle:
            np.save(handle, array)
        os.replace(path + ".tmp", path)

    def write_info(self, info: dict) -> None:
        """Records what was extracted (written last: its presence marks a finished extraction)."""
        write_json(os.path.join(self.directory, "info.json"), info)

    def read_info(self) -> ml_collections.ConfigDict:
        path = os.path.join(self.directory, "info.json")
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{path} is missing: {self.directory} holds no finished extraction of "
                                    f"{self.what}; run {self.command}")
        with open(path, encoding="utf-8") as handle:
            return ml_collections.ConfigDict(json.load(handle))


def latents(directory: str) -> RecordStore:
    """z_sem of every frame, (num_frames, latent_dim) float32 per record."""
    return RecordStore(directory, "latents", f"python -m diffdub_jax.extract_latents --output={directory}")


def audio_features(directory: str) -> RecordStore:
    """Audio features of every record as the motion config's frontend makes them (float16 HuBERT states)."""
    return RecordStore(directory, "audio features",
                       f"python -m diffdub_jax.extract_audio_features --config=... --output={directory}")
