"""Stage 1 as a training Task (training.task): the masked denoising step, its input stream and
the sampler that renders a fixed held-out batch during training."""

from __future__ import annotations

import functools
from typing import Callable

import jax
import ml_collections
from jax.experimental import multihost_utils
import optax
from PIL import Image

from diffdub_jax.data import datasets, pipeline
from diffdub_jax.data.pixels import sample_grid
from diffdub_jax.diffusion import losses
from diffdub_jax.diffusion.schedule import Schedule
from diffdub_jax.models import renderer as renderer_model
from diffdub_jax.models.renderer import Renderer, renderer_from_config
from diffdub_jax.serving.renderer_service import RendererService
from diffdub_jax.training.state import TrainState, apply_gradients
from diffdub_jax.workdir import Workdir

name = "renderer"
build_model = renderer_from_config
model_inputs = pipeline.renderer_inputs


def check(config: ml_collections.ConfigDict) -> None:
    """Fails before any device work when the model's sizes do not fit or the dataset is not built."""
    renderer_from_config(config)
    datasets.clip_source(config.data.name, "train", config.data.data_dir)


def train_step(state: TrainState, batch: dict, rng: jax.Array, *, model: Renderer, schedule: Schedule,
               optimizer: optax.GradientTransformation, ema_decay: float, ema_warmup: bool = False,
               loss_weighting: str = "uniform", min_snr_gamma: float = 5.0):
    """One optimisation step. rng is folded with the step, so a resumed run draws the same noise."""
    step_rng = jax.random.fold_in(rng, state.step)
    noise_rng, dropout_rng = jax.random.split(step_rng)

    def loss_fn(params):
        def denoise(x_t, t):
            return model.apply({"params": params}, x_t, batch["reference"], t, batch["encoder_crop"],
                               train=True, rngs={"dropout": dropout_rng})
        return losses.masked_denoising_loss(denoise, schedule, batch["image"], batch["edit_mask"], noise_rng,
                                            weighting=loss_weighting, min_snr_gamma=min_snr_gamma)

    loss, grads = jax.value_and_grad(loss_fn)(state.params)
    metrics = {"loss": loss, "grad_norm": optax.global_norm(grads)}
    return apply_gradients(state, grads, optimizer, ema_decay, ema_warmup), metrics


def make_train_step(model: Renderer, config: ml_collections.ConfigDict,
                    optimizer: optax.GradientTransformation) -> Callable:
    return functools.partial(train_step, model=model, schedule=Schedule.from_config(config.diffusion),
                             optimizer=optimizer, ema_decay=config.train.ema_decay,
                             ema_warmup=config.train.ema_warmup, loss_weighting=config.diffusion.loss_weighting,
                             min_snr_gamma=config.diffusion.min_snr_gamma)


def init_variables(model: Renderer, config: ml_collections.ConfigDict, rng: jax.Array) -> dict:
    del config  # the model carries its sizes
    return renderer_model.init_variables(model, rng)


def input_stream(config: ml_collections.ConfigDict, split: str, shard_index: int = 0, shard_count: int = 1):
    return pipeline.renderer_pipeline(config, split, shard_index=shard_index, shard_count=shard_count)


def make_sampler(config: ml_collections.ConfigDict, workdir: Workdir, writer) -> Callable | None:
    """sampler(state, step): renders a fixed held-out batch with the EMA params every
    train.sample_every steps; process 0 writes the grid to TensorBoard and samples/."""
    if not config.train.get("sample_every", 0):
        return None
    val_config = config.copy_and_resolve_references()
    val_config.data.batch_size = min(8, config.data.batch_size)
    batch = pipeline.renderer_inputs(next(iter(pipeline.renderer_pipeline(val_config, "test", augment_crop=False))))
    service = RendererService(config, None, batch_size=val_config.data.batch_size)
    x_T = service.noise(config.seed + 2)

    def sample(state, step):
        # every process renders on its own devices (process 0 writes), from a host copy of the
        # parameters when they are sharded over several processes' devices
        service.params = (multihost_utils.process_allgather(state.ema_params, tiled=True)
                          if jax.process_count() > 1 else state.ema_params)
        rendered = service.render(batch["image"], batch["reference"], batch["edit_mask"], x_T,
                                  encoder_crops=batch["encoder_crop"])
        if writer:
            grid = sample_grid(batch, rendered)
            workdir.samples.mkdir(parents=True, exist_ok=True)
            with (workdir.samples / f"step_{step:08d}.png").open("wb") as handle:
                Image.fromarray(grid).save(handle, format="PNG")
            writer.add_image("samples/reference|masked|rendered|target", grid, step, dataformats="HWC")

    return sample

