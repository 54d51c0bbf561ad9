"""z_sem of every frame of a dataset split, from the frozen stage-1 EMA encoder.

Stage 2 learns audio -> z_sem; extracting the targets once lets it train without the renderer.
Each clip's (num_frames, latent_dim) float32 array goes to `<output>/<split>/<record:06d>.npy`
(written to a temporary name, then renamed), so an interrupted extraction resumes by skipping the
clips already on disk. Frames are encoded in fixed-size batches sharded over the mesh's data
axis (one compiled shape; the last batch of a clip is padded).
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np
from tqdm import tqdm

from diffdub_jax import checkpoints, parallel
from diffdub_jax.data import datasets, pipeline
from diffdub_jax.data.latent_store import latents_path, load_clip_latents, write_info
from diffdub_jax.models.renderer import Renderer
from diffdub_jax.training.loop import renderer_model


def extract_latents(renderer_workdir: str, output: str, splits: tuple[str, ...] = ("train", "test"), *,
                    data_dir: str | None = None, batch_size: int = 64) -> dict:
    """Encodes every frame of `splits` of the dataset the renderer in renderer_workdir was trained
    on; returns {split: number of clips}. Clips already extracted are skipped."""
    config = checkpoints.restore_config(renderer_workdir)
    params = checkpoints.restore_params(renderer_workdir)
    mesh = parallel.make_mesh()
    batch_size = -(-batch_size // mesh.size) * mesh.size
    model = renderer_model(config)
    encode = jax.jit(lambda p, crops: model.apply({"params": p}, crops, method=Renderer.encode),
                     in_shardings=(parallel.replicated(mesh), parallel.batch_sharding(mesh)))
    size = config.data.image_size
    counts = {}
    for split in splits:
        source = datasets.clip_source(config.data.name, split, data_dir or config.data.data_dir)
        os.makedirs(os.path.join(output, split), exist_ok=True)
        todo = [i for i in range(len(source)) if not os.path.isfile(latents_path(output, split, i))]
        for record_index in tqdm(todo, desc=f"latents {split}"):
            frames = source[record_index]["frames"]
            crops = np.stack([pipeline.clean_encoder_crop(frames, i, size) for i in range(len(frames["image"]))])
            latents = []
            for start in range(0, len(crops), batch_size):
                chunk = crops[start : start + batch_size]
                padded = np.concatenate([chunk, np.zeros((batch_size - len(chunk),) + chunk.shape[1:], chunk.dtype)])
                latents.append(np.asarray(encode(params, jnp.asarray(padded)))[: len(chunk)])
            path = latents_path(output, split, record_index)
            with open(path + ".tmp", "wb") as handle:
                np.save(handle, np.concatenate(latents).astype(np.float32))
            os.replace(path + ".tmp", path)
        counts[split] = len(source)
    mean, std = latent_statistics(output, "train" if "train" in splits else splits[0], counts)
    write_info(output, {"renderer_workdir": os.path.abspath(renderer_workdir), "dataset": config.data.name,
                        "latent_dim": int(config.model.embed_channels), "image_size": int(size), "clips": counts,
                        "latent_mean": mean.tolist(), "latent_std": std.tolist()})
    return counts


def latent_statistics(latents_dir: str, split: str, counts: dict) -> tuple[np.ndarray, np.ndarray]:
    """Per-dimension mean and standard deviation of a split's latents, over all its frames."""
    total, squares, frames = 0.0, 0.0, 0
    for record_index in range(counts[split]):
        latents = np.asarray(load_clip_latents(latents_dir, split, record_index), np.float64)
        total, squares, frames = total + latents.sum(0), squares + (latents**2).sum(0), frames + len(latents)
    mean = total / frames
    return mean.astype(np.float32), np.sqrt(np.maximum(squares / frames - mean**2, 1e-12)).astype(np.float32)
