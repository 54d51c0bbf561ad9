"""The masked epsilon objective of the inpainting renderer (DESIGN §2.2)."""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from diffdub_jax.diffusion.schedule import Schedule


def noisy_input(schedule: Schedule, x0: jnp.ndarray, edit_mask: jnp.ndarray, t: jnp.ndarray,
                noise: jnp.ndarray) -> jnp.ndarray:
    """q_sample inside the edit region; the known region is the clean x0."""
    return jnp.where(edit_mask > 0.5, schedule.q_sample(x0, t, noise), x0)


def masked_epsilon_loss(
    predict_eps: Callable[[jnp.ndarray, jnp.ndarray], jnp.ndarray],
    schedule: Schedule,
    x0: jnp.ndarray,
    edit_mask: jnp.ndarray,
    rng: jax.Array,
) -> jnp.ndarray:
    """mean over all pixels of edit * (eps - eps_hat)^2, with t uniform in [0, T).

    predict_eps(x_t, t) is the denoiser with its conditioning already bound.
    """
    t_rng, noise_rng = jax.random.split(rng)
    t = jax.random.randint(t_rng, (x0.shape[0],), 0, schedule.num_timesteps)
    noise = jax.random.normal(noise_rng, x0.shape, x0.dtype)
    eps_hat = predict_eps(noisy_input(schedule, x0, edit_mask, t, noise), t)
    return jnp.mean(edit_mask * jnp.square(noise - eps_hat.astype(jnp.float32)))
