"""Stage 2 as a training Task (training.task): the padding-masked latent regression step on
extracted stage-1 latents, its input stream (audio features from the serving layer's
AudioFrontend, the one `infer` uses), its initial variables and its early input check."""

from __future__ import annotations

import functools
from typing import Callable

import jax
import jax.numpy as jnp
import ml_collections
import optax

from diffdub_jax.errors import InvalidInputError
from diffdub_jax.data import pipeline, record_store
from diffdub_jax.training import features
from diffdub_jax.models import motion as motion_model
from diffdub_jax.models.motion import MotionGenerator, build_motion_generator
from diffdub_jax.serving.audio_frontend import AudioFrontend
from diffdub_jax.training.state import TrainState, apply_gradients

name = "motion"
MOTION_INPUTS = ("audio_features", "reference_latents", "latents", "valid")


def build_model(config: ml_collections.ConfigDict) -> MotionGenerator:
    return build_motion_generator(config.model)


def masked_mse(predicted: jnp.ndarray, target: jnp.ndarray, valid: jnp.ndarray) -> jnp.ndarray:
    """Mean squared error over the real frames only. (The release divides by all frames, padding
    included, which weights a batch's frames by how little padding it has.)"""
    weight = valid[..., None].astype(predicted.dtype)
    return jnp.sum(weight * (predicted - target) ** 2) / (jnp.maximum(jnp.sum(weight), 1.0) * target.shape[-1])


def train_step(state: TrainState, batch: dict, rng: jax.Array, *, model: MotionGenerator,
               optimizer: optax.GradientTransformation, ema_decay: float, ema_warmup: bool = False):
    """One optimisation step; BatchNorm uses the batch's statistics over real frames and updates
    the running ones. rng is folded with the step, so a resumed run draws the same dropout."""
    dropout_rng = jax.random.fold_in(rng, state.step)

    def loss_fn(params):
        predicted, updates = model.apply(
            {"params": params, "batch_stats": state.batch_stats}, batch["audio_features"],
            batch["reference_latents"], batch["valid"], train=True, rngs={"dropout": dropout_rng},
            mutable=["batch_stats"])
        return masked_mse(predicted, batch["latents"], batch["valid"]), updates["batch_stats"]

    (loss, batch_stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    metrics = {"loss": loss, "grad_norm": optax.global_norm(grads)}
    return apply_gradients(state, grads, optimizer, ema_decay, ema_warmup, batch_stats), metrics


def make_train_step(model: MotionGenerator, config: ml_collections.ConfigDict,
                    optimizer: optax.GradientTransformation) -> Callable:
    return functools.partial(train_step, model=model, optimizer=optimizer, ema_decay=config.train.ema_decay,
                             ema_warmup=config.train.ema_warmup)


def check(config: ml_collections.ConfigDict) -> None:
    """Fails early, naming the mismatch, when the latents (or stored audio features) do not fit the config."""
    if config.data.get("features_dir", ""):
        features.check_features(config)
    if not config.data.latents_dir:
        raise InvalidInputError("data.latents_dir is empty: extract stage-1 latents first "
                         "(python -m diffdub_jax.extract_latents) and pass --config.data.latents_dir=DIR")
    info = record_store.latents(config.data.latents_dir).read_info()
    if info.latent_dim != config.model.latent_dim:
        raise InvalidInputError(f"{config.data.latents_dir} holds {info.latent_dim}-d latents but model.latent_dim is "
                         f"{config.model.latent_dim}; set --config.model.latent_dim={info.latent_dim}")
    if info.dataset != config.data.name:
        raise InvalidInputError(f"{config.data.latents_dir} was extracted from {info.dataset!r}, not data.name "
                         f"{config.data.name!r}")


def init_variables(model: MotionGenerator, config: ml_collections.ConfigDict, rng: jax.Array) -> dict:
    """Fresh variables; with normalise_latents, the latents' statistics in batch_stats."""
    variables = motion_model.init_variables(model, config.model.audio_dim, rng)
    if model.normalise_latents:
        info = record_store.latents(config.data.latents_dir).read_info()
        variables["batch_stats"]["latent_mean"] = jnp.asarray(info.latent_mean, jnp.float32)
        variables["batch_stats"]["latent_std"] = jnp.asarray(info.latent_std, jnp.float32)
    return variables


def input_stream(config: ml_collections.ConfigDict, split: str, shard_index: int = 0, shard_count: int = 1,
                 **kwargs):
    """Stage-2 batches with the features of config.audio's frontend (kwargs: motion_pipeline's)."""
    return pipeline.motion_pipeline(config, AudioFrontend(config.audio).for_clip, split, shard_index=shard_index,
                                    shard_count=shard_count, **kwargs)


def model_inputs(batch: dict) -> dict:
    return {key: batch[key] for key in MOTION_INPUTS}


def make_sampler(config: ml_collections.ConfigDict, workdir, writer) -> None:
    """Stage 2 draws no pictures while it trains; its evaluators (config.evals) render."""
    del config, workdir, writer
