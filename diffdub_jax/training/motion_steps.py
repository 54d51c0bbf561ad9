"""Jitted stage-2 steps: the padding-masked latent regression step and prediction."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from diffdub_jax.models.motion import MotionGenerator
from diffdub_jax.training.state import TrainState, apply_gradients

MOTION_INPUTS = ("audio_features", "reference_latents", "latents", "valid")


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


def predict(variables: dict, audio_features: jnp.ndarray, reference_latents: jnp.ndarray,
            valid: jnp.ndarray | None = None, *, model: MotionGenerator) -> jnp.ndarray:
    """z_sem per frame in inference mode (running BatchNorm statistics, no dropout)."""
    return model.apply(variables, audio_features, reference_latents, valid)
