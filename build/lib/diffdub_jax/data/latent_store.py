"""Where extracted stage-1 latents live on disk: `<dir>/<split>/<record:06d>.npy` + `<dir>/info.json`."""

from __future__ import annotations

import json
import os

import ml_collections
import numpy as np

from diffdub_jax.data.files import write_json


def latents_path(latents_dir: str, split: str, record_index: int) -> str:
    return os.path.join(latents_dir, split, f"{record_index:06d}.npy")


def load_clip_latents(latents_dir: str, split: str, record_index: int) -> np.ndarray:
    """(num_frames, latent_dim) latents of one clip; a clear error if extraction has not run."""
    path = latents_path(latents_dir, split, record_index)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no latents for record {record_index} of split {split!r}; run "
                                f"python -m diffdub_jax.extract_latents --output={latents_dir} first")
    return np.load(path, mmap_mode="r")


def write_info(latents_dir: str, info: dict) -> None:
    """Records what was extracted (written last: its presence marks a finished extraction)."""
    write_json(os.path.join(latents_dir, "info.json"), info)


def read_info(latents_dir: str) -> ml_collections.ConfigDict:
    """What extract_latents recorded about a latents directory (dataset, latent size, ...)."""
    path = os.path.join(latents_dir, "info.json")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} is missing: {latents_dir} holds no finished latent extraction; run "
                                f"python -m diffdub_jax.extract_latents --output={latents_dir}")
    with open(path, encoding="utf-8") as handle:
        return ml_collections.ConfigDict(json.load(handle))
