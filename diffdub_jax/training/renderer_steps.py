"""Jitted stage-1 steps: the masked denoising train step and batched DDIM rendering."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from diffdub_jax.diffusion import ddim, losses
from diffdub_jax.diffusion.schedule import Schedule
from diffdub_jax.models.renderer import Renderer
from diffdub_jax.training.state import TrainState, apply_gradients


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


def render(params, batch: dict, x_T: jnp.ndarray, *, model: Renderer, schedule: Schedule,
           num_steps: int, z_sem: jnp.ndarray | None = None) -> jnp.ndarray:
    """Redraws the edit region of batch['image'] with DDIM. z_sem defaults to the encoding of
    batch['encoder_crop'] (reconstruction); stage 2 passes predicted codes instead."""
    if z_sem is None:
        z_sem = model.apply({"params": params}, batch["encoder_crop"], method=Renderer.encode)

    def denoise(x_t, t):
        return model.apply({"params": params}, x_t, batch["reference"], t, z_sem, method=Renderer.denoise)

    x_T = jnp.broadcast_to(x_T, batch["image"].shape)
    return ddim.ddim_sample(denoise, schedule, x_T, batch["image"], batch["edit_mask"], num_steps=num_steps)
