"""The masked denoising objective of the inpainting renderer (DESIGN §2.2).

The denoiser is regressed onto the schedule's target (epsilon in the release; see
`Schedule.prediction`) inside the edit region only. `weighting='uniform'` is the release's plain
mean. `'min_snr'` (Hang et al. 2023, "Efficient Diffusion Training via Min-SNR Weighting") weights
each sample so that its error measured on x0 counts min(SNR_t, gamma): the nearly clean steps,
where errors cost little in the image, stop dominating, and the noisy steps that decide content
(here: how far the mouth is open, which only z_sem can tell) get the gradient.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from diffdub_jax.diffusion.schedule import Schedule
from diffdub_jax.errors import InvalidInputError


def noisy_input(schedule: Schedule, x0: jnp.ndarray, edit_mask: jnp.ndarray, t: jnp.ndarray,
                noise: jnp.ndarray) -> jnp.ndarray:
    """q_sample inside the edit region; the known region is the clean x0."""
    return jnp.where(edit_mask > 0.5, schedule.q_sample(x0, t, noise), x0)


def masked_denoising_loss(
    denoise: Callable[[jnp.ndarray, jnp.ndarray], jnp.ndarray],
    schedule: Schedule,
    x0: jnp.ndarray,
    edit_mask: jnp.ndarray,
    rng: jax.Array,
    weighting: str = "uniform",
    min_snr_gamma: float = 5.0,
) -> jnp.ndarray:
    """mean over all pixels of w(t) * edit * (target - denoise(x_t, t))^2, with t uniform in [0, T).

    denoise(x_t, t) is the network with its conditioning already bound.
    """
    t_rng, noise_rng = jax.random.split(rng)
    t = jax.random.randint(t_rng, (x0.shape[0],), 0, schedule.num_timesteps)
    noise = jax.random.normal(noise_rng, x0.shape, x0.dtype)
    output = denoise(noisy_input(schedule, x0, edit_mask, t, noise), t)
    per_pixel = edit_mask * jnp.square(schedule.target(x0, t, noise) - output.astype(jnp.float32))
    weights = loss_weights(schedule, t, weighting, min_snr_gamma)
    return jnp.mean(weights[:, None, None, None] * per_pixel)


def loss_weights(schedule: Schedule, t: jnp.ndarray, weighting: str, min_snr_gamma: float = 5.0) -> jnp.ndarray:
    """Per-sample loss weights (batch,) for timesteps t."""
    if weighting == "uniform":
        return jnp.ones(t.shape, jnp.float32)
    if weighting == "min_snr":
        snr = schedule.snr
        # A target's squared error is this many times the squared error it implies on x0.
        per_x0_error = {"epsilon": snr, "x0": np.ones_like(snr), "v": snr + 1.0}[schedule.prediction]
        return jnp.asarray(np.minimum(snr, min_snr_gamma) / per_x0_error, jnp.float32)[t]
    raise InvalidInputError(f"unknown loss weighting {weighting!r}; choose 'uniform' or 'min_snr'")
