"""The masked epsilon objective of the inpainting renderer (DESIGN §2.2).

`weighting='uniform'` is the release's plain mean. `'min_snr'` (Hang et al. 2023, "Efficient
Diffusion Training via Min-SNR Weighting") scales each sample's term by min(SNR_t, gamma) / SNR_t:
the nearly clean steps, where epsilon errors cost little in the image, stop dominating, and the
noisy steps that decide content (here: how far the mouth is open, which only z_sem can tell)
get the gradient. Same model and parameterisation, so weights stay interchangeable.
"""

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
    weighting: str = "uniform",
    min_snr_gamma: float = 5.0,
) -> jnp.ndarray:
    """mean over all pixels of w(t) * edit * (eps - eps_hat)^2, with t uniform in [0, T).

    predict_eps(x_t, t) is the denoiser with its conditioning already bound.
    """
    t_rng, noise_rng = jax.random.split(rng)
    t = jax.random.randint(t_rng, (x0.shape[0],), 0, schedule.num_timesteps)
    noise = jax.random.normal(noise_rng, x0.shape, x0.dtype)
    eps_hat = predict_eps(noisy_input(schedule, x0, edit_mask, t, noise), t)
    per_pixel = edit_mask * jnp.square(noise - eps_hat.astype(jnp.float32))
    weights = loss_weights(schedule, t, weighting, min_snr_gamma)
    return jnp.mean(weights[:, None, None, None] * per_pixel)


def loss_weights(schedule: Schedule, t: jnp.ndarray, weighting: str, min_snr_gamma: float = 5.0) -> jnp.ndarray:
    """Per-sample loss weights (batch,) for timesteps t."""
    if weighting == "uniform":
        return jnp.ones(t.shape, jnp.float32)
    if weighting == "min_snr":
        alphas_cumprod = schedule.alphas_cumprod
        snr = jnp.asarray(alphas_cumprod / (1.0 - alphas_cumprod), jnp.float32)[t]
        return jnp.minimum(snr, min_snr_gamma) / snr
    raise ValueError(f"unknown loss weighting {weighting!r}; choose 'uniform' or 'min_snr'")
