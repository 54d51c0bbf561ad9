"""z_sem of every frame of a dataset split, from the frozen stage-1 EMA encoder.

Stage 2 learns audio -> z_sem; extracting the targets once lets it train without the renderer.
Each clip's (num_frames, latent_dim) float32 array goes to `<output>/<split>/<record:06d>.npy`
(written to a temporary name, then renamed), so an interrupted extraction resumes by skipping the
clips already on disk. Frames are encoded by the serving layer's RendererService (fixed-size
batches sharded over the mesh's data axis: one compiled shape).
"""

from __future__ import annotations

import numpy as np
from tqdm import tqdm

from diffdub_jax.data import datasets, pipeline, record_store
from diffdub_jax.data.threaded import ordered_map
from diffdub_jax.serving.renderer_service import RendererService
from diffdub_jax.workdir import as_path


def extract_latents(renderer_workdir: str, output: str, splits: tuple[str, ...] = ("train", "test"), *,
                    data_dir: str | None = None, batch_size: int = 64) -> dict:
    """Encodes every frame of `splits` of the dataset the renderer in renderer_workdir was trained
    on; returns {split: number of clips}. Clips already extracted are skipped."""
    service = RendererService.from_workdir(renderer_workdir, batch_size)
    config, size = service.config, service.image_size
    counts, store = {}, record_store.latents(output)
    for split in splits:
        source = datasets.clip_source(config.data.name, split, data_dir or config.data.data_dir)
        todo = [i for i in range(len(source)) if not store.has(split, i)]

        def encoder_crops(record_index: int) -> np.ndarray:
            frames = source[record_index]["frames"]
            return np.stack([pipeline.clean_encoder_crop(frames, i, size) for i in range(len(frames["image"]))])

        # The host cuts the next clip's crops while the device encodes this one's.
        crops_ahead = ordered_map(encoder_crops, todo, threads=1, ahead=1)
        for record_index, crops in zip(tqdm(todo, desc=f"latents {split}"), crops_ahead):
            store.save(split, record_index, service.encode(crops).astype(np.float32))
        counts[split] = len(source)
    mean, std = latent_statistics(output, "train" if "train" in splits else splits[0], counts)
    store.write_info({"renderer_workdir": str(as_path(renderer_workdir)), "dataset": config.data.name,
                      "latent_dim": int(config.model.embed_channels), "image_size": int(size), "clips": counts,
                      "latent_mean": mean.tolist(), "latent_std": std.tolist()})
    return counts


def latent_statistics(latents_dir: str, split: str, counts: dict) -> tuple[np.ndarray, np.ndarray]:
    """Per-dimension mean and standard deviation of a split's latents, over all its frames."""
    total, squares, frames = 0.0, 0.0, 0
    for record_index in range(counts[split]):
        latents = np.asarray(record_store.latents(latents_dir).load(split, record_index), np.float64)
        total, squares, frames = total + latents.sum(0), squares + (latents**2).sum(0), frames + len(latents)
    mean = total / frames
    return mean.astype(np.float32), np.sqrt(np.maximum(squares / frames - mean**2, 1e-12)).astype(np.float32)
