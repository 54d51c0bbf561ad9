"""z_sem of every frame of a dataset split, from the frozen stage-1 EMA encoder.

Stage 2 learns audio -> z_sem; extracting the targets once lets it train without the renderer.
Each clip's (num_frames, latent_dim) float32 array goes to `<output>/<split>/<record:06d>.npy`
(written to a temporary name, then renamed), so an interrupted extraction resumes by skipping the
clips already on disk. Frames are encoded by the serving layer's RendererService (fixed-size
batches sharded over the mesh's data axis: one compiled shape).
"""

from __future__ import annotations

import json

import jax
import numpy as np
from etils import epath
from tqdm import tqdm

from diffdub_jax import distributed
from diffdub_jax.data import datasets, pipeline, record_store
from diffdub_jax.data.files import write_json
from diffdub_jax.data.threaded import ordered_map
from diffdub_jax.serving.renderer_service import RendererService
from diffdub_jax.workdir import CheckpointMismatchError, Workdir, as_path

SOURCE_FILE = "renderer.json"  # which renderer checkpoint the store's latents come from


def extract_latents(renderer_workdir: str, output: str, splits: tuple[str, ...] = ("train", "test"), *,
                    data_dir: str | None = None, batch_size: int = 64) -> dict:
    """Encodes every frame of `splits` of the dataset the renderer in renderer_workdir was trained
    on; returns {split: number of clips}. Clips already extracted are skipped. In a multi-process
    run each process encodes clips process_index, process_index + process_count, ... on its own
    devices; once all have, process 0 writes info.json (which marks the store finished)."""
    service = RendererService.from_workdir(renderer_workdir, batch_size)
    config, size = service.config, service.image_size
    counts, store = {}, record_store.latents(output)
    _check_source(output, {"renderer_workdir": str(as_path(renderer_workdir)),
                           "renderer_step": Workdir(renderer_workdir).latest_step()})
    for split in splits:
        source = datasets.clip_source(config.data.name, split, data_dir or config.data.data_dir)
        todo = [i for i in range(jax.process_index(), len(source), jax.process_count()) if not store.has(split, i)]

        def encoder_crops(record_index: int) -> np.ndarray:
            frames = source[record_index]["frames"]
            return np.stack([pipeline.clean_encoder_crop(frames, i, size) for i in range(len(frames["image"]))])

        # The host cuts the next clip's crops while the device encodes this one's.
        crops_ahead = ordered_map(encoder_crops, todo, threads=1, ahead=1)
        for record_index, crops in zip(tqdm(todo, desc=f"latents {split}"), crops_ahead):
            store.save(split, record_index, service.encode(crops).astype(np.float32))
        counts[split] = len(source)
    distributed.wait_for_all_processes("latents_written")
    if jax.process_index() != 0:
        return counts
    mean, std = latent_statistics(output, "train" if "train" in splits else splits[0], counts)
    store.write_info({"renderer_workdir": str(as_path(renderer_workdir)), "dataset": config.data.name,
                      "latent_dim": int(config.model.embed_channels), "image_size": int(size), "clips": counts,
                      "latent_mean": mean.tolist(), "latent_std": std.tolist()})
    return counts


def _check_source(output: str, source: dict) -> None:
    """Stamps output with the renderer checkpoint its latents come from, or refuses to add to
    latents of another one: a renderer trained further in its workdir would otherwise leave the
    clips extracted before it as they were, and stage 2 would learn from two encoders at once."""
    path = epath.Path(output) / SOURCE_FILE
    if path.exists():
        existing = json.loads(path.read_text())
        if existing != source:
            raise CheckpointMismatchError(
                f"{output} holds latents of {existing['renderer_workdir']} at step {existing['renderer_step']}, "
                f"not of {source['renderer_workdir']} at step {source['renderer_step']}: delete it (and the "
                f"stage-2 runs trained on it) or extract to another --output")
    elif jax.process_index() == 0:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json(str(path), source)
    distributed.wait_for_all_processes("latents_source_checked")


def latent_statistics(latents_dir: str, split: str, counts: dict) -> tuple[np.ndarray, np.ndarray]:
    """Per-dimension mean and standard deviation of a split's latents, over all its frames."""
    total, squares, frames = 0.0, 0.0, 0
    for record_index in range(counts[split]):
        latents = np.asarray(record_store.latents(latents_dir).load(split, record_index), np.float64)
        total, squares, frames = total + latents.sum(0), squares + (latents**2).sum(0), frames + len(latents)
    mean = total / frames
    return mean.astype(np.float32), np.sqrt(np.maximum(squares / frames - mean**2, 1e-12)).astype(np.float32)
