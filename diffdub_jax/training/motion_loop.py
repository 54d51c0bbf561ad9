"""Stage 2's use of the shared training loop: the motion generator on extracted latents."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import ml_collections

from diffdub_jax import checkpoints
from diffdub_jax.data import latent_store, pipeline
from diffdub_jax.models.motion import MotionGenerator, build_motion_generator, init_variables
from diffdub_jax.training import motion_steps
from diffdub_jax.training.loop import run_stage
from diffdub_jax.training.state import TrainState, make_optimizer


def motion_model(config: ml_collections.ConfigDict) -> MotionGenerator:
    return build_motion_generator(config.model)


def check_latents(config: ml_collections.ConfigDict) -> None:
    """Fails early, naming the mismatch, when the latents do not fit the config."""
    if not config.data.latents_dir:
        raise ValueError("data.latents_dir is empty: extract stage-1 latents first "
                         "(python -m diffdub_jax.extract_latents) and pass --config.data.latents_dir=DIR")
    info = latent_store.read_info(config.data.latents_dir)
    if info.latent_dim != config.model.latent_dim:
        raise ValueError(f"{config.data.latents_dir} holds {info.latent_dim}-d latents but model.latent_dim is "
                         f"{config.model.latent_dim}; set --config.model.latent_dim={info.latent_dim}")
    if info.dataset != config.data.name:
        raise ValueError(f"{config.data.latents_dir} was extracted from {info.dataset!r}, not data.name "
                         f"{config.data.name!r}")


def _initial_variables(model: MotionGenerator, config: ml_collections.ConfigDict) -> dict:
    if config.train.get("init_from"):
        return checkpoints.restore_variables(config.train.init_from)
    variables = init_variables(model, config.model.audio_dim, jax.random.key(config.seed))
    if model.normalise_latents:
        info = latent_store.read_info(config.data.latents_dir)
        variables["batch_stats"]["latent_mean"] = jnp.asarray(info.latent_mean, jnp.float32)
        variables["batch_stats"]["latent_std"] = jnp.asarray(info.latent_std, jnp.float32)
    return variables


def train_motion(config: ml_collections.ConfigDict, workdir: str, *, stop_after: int | None = None) -> TrainState:
    """Trains (or resumes) stage 2 in workdir on the latents in config.data.latents_dir."""
    check_latents(config)
    model = motion_model(config)
    optimizer = make_optimizer(config.train)
    step_fn = functools.partial(motion_steps.train_step, model=model, optimizer=optimizer,
                                ema_decay=config.train.ema_decay, ema_warmup=config.train.ema_warmup)
    return run_stage(
        config, workdir, name="motion", optimizer=optimizer, step_fn=step_fn,
        make_stream=lambda host_config, index, count: pipeline.motion_pipeline(
            host_config, "train", shard_index=index, shard_count=count),
        batch_inputs=lambda batch: {key: batch[key] for key in motion_steps.MOTION_INPUTS},
        initial_variables=lambda: _initial_variables(model, config), stop_after=stop_after)
