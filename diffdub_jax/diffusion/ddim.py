"""Masked sampling as the release renders frames (DDIM), and a few-step alternative
(DPM-Solver++ 2M), each as one `lax.scan` over the steps.

Before every step the known region (outside the edit mask) is replaced by the clean source, so
only the lower face is generated. The denoiser sees the original 1000-step timestep values of the
spaced schedule (0, 50, ..., 950 for 20 steps). Its output becomes a predicted x0 (whatever the
schedule's `prediction`), which is clipped to [-1, 1] and epsilon re-derived from it, as in the
release. A whole batch of frames is sampled at once; pass the same x_T for every frame of a clip to
keep the texture of the mouth region stable over time.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from diffdub_jax.diffusion.schedule import Schedule
from diffdub_jax.errors import InvalidInputError


def ddim_timesteps(num_timesteps: int, num_steps: int) -> np.ndarray:
    """The release's 'ddimN' spacing: range(0, T, stride) with the smallest stride giving N steps."""
    for stride in range(1, num_timesteps):
        if len(range(0, num_timesteps, stride)) == num_steps:
            return np.arange(0, num_timesteps, stride)
    if num_steps == num_timesteps:
        return np.arange(num_timesteps)
    raise InvalidInputError(f"cannot space {num_timesteps} timesteps into {num_steps} DDIM steps")


def _step_coefficients(schedule: Schedule, num_steps: int, eta: float) -> dict[str, np.ndarray]:
    """Per-step constants (float64 -> float32), ordered from the noisiest step to the last."""
    timesteps = ddim_timesteps(schedule.num_timesteps, num_steps)
    alpha_bar = schedule.alphas_cumprod[timesteps]
    alpha_bar_prev = np.concatenate([[1.0], alpha_bar[:-1]])
    sigma = eta * np.sqrt((1 - alpha_bar_prev) / (1 - alpha_bar)) * np.sqrt(1 - alpha_bar / alpha_bar_prev)
    coefficients = {
        "t": timesteps.astype(np.int32),
        "recip": np.sqrt(1.0 / alpha_bar),
        "recip_m1": np.sqrt(1.0 / alpha_bar - 1.0),
        "sqrt_prev": np.sqrt(alpha_bar_prev),
        "dir_prev": np.sqrt(np.maximum(1.0 - alpha_bar_prev - sigma**2, 0.0)),
        "sigma": sigma * (timesteps > 0),
    }
    return {k: (v if k == "t" else v.astype(np.float32))[::-1].copy() for k, v in coefficients.items()}


def _paste(x: jnp.ndarray, known: jnp.ndarray, edit_mask: jnp.ndarray) -> jnp.ndarray:
    """x inside the edit mask, the known frame outside: a select, not a blend, so known pixels
    come back bit for bit."""
    return jnp.where(edit_mask > 0.5, x, known)


def _denoised(denoise: Callable, schedule: Schedule, x: jnp.ndarray, timestep: jnp.ndarray,
              clip_denoised: bool) -> jnp.ndarray:
    """The clean frames the denoiser predicts for the batch x at one timestep, clipped to [-1, 1]
    as the release does."""
    t = jnp.full((x.shape[0],), timestep, jnp.int32)
    x0 = schedule.predicted_x0(denoise(x, t).astype(jnp.float32), x, t)
    return jnp.clip(x0, -1.0, 1.0) if clip_denoised else x0


def ddim_sample(
    denoise: Callable[[jnp.ndarray, jnp.ndarray], jnp.ndarray],
    schedule: Schedule,
    x_T: jnp.ndarray,
    known: jnp.ndarray,
    edit_mask: jnp.ndarray,
    *,
    num_steps: int = 20,
    eta: float = 0.0,
    rng: jax.Array | None = None,
    paste_known_at_end: bool = True,
    clip_denoised: bool = True,
) -> jnp.ndarray:
    """Samples a batch of frames. known: the source frames in [-1, 1] (only their pixels outside
    edit_mask are used); edit_mask: 1 where to generate, broadcastable to x_T.

    denoise(x_t, t) is the network with its conditioning (reference frame, z_sem) bound.
    paste_known_at_end=False reproduces the release, which leaves the last step unpasted.
    """
    if eta > 0 and rng is None:
        raise ValueError("ddim_sample with eta > 0 needs an rng")
    coefficients = {k: jnp.asarray(v) for k, v in _step_coefficients(schedule, num_steps, eta).items()}
    keys = jax.random.split(rng if rng is not None else jax.random.key(0), num_steps)
    known = known.astype(jnp.float32)

    def step(x, inputs):
        c, key = inputs
        x = _paste(x, known, edit_mask)
        x0 = _denoised(denoise, schedule, x, c["t"], clip_denoised)
        eps = (c["recip"] * x - x0) / c["recip_m1"]
        x = x0 * c["sqrt_prev"] + c["dir_prev"] * eps
        if eta > 0:
            x = x + c["sigma"] * jax.random.normal(key, x.shape, x.dtype)
        return x, None

    x, _ = jax.lax.scan(step, x_T.astype(jnp.float32), (coefficients, keys))
    return _paste(x, known, edit_mask) if paste_known_at_end else x


def _solver_coefficients(schedule: Schedule, num_steps: int) -> dict[str, np.ndarray]:
    """Per-step constants of DPM-Solver++(2M) on the DDIM spacing, noisiest step first: the
    timestep, sigma_next / sigma, alpha_next * (1 - e^-h) and h's ratio to the previous step's."""
    timesteps = ddim_timesteps(schedule.num_timesteps, num_steps)[::-1]
    alpha_bar = schedule.alphas_cumprod[timesteps]
    alpha_bar_next = np.concatenate([alpha_bar[1:], [1.0]])
    log_snr = 0.5 * np.log(alpha_bar / (1 - alpha_bar))  # lambda = log(alpha / sigma)
    with np.errstate(divide="ignore"):
        log_snr_next = np.concatenate([log_snr[1:], [np.inf]])
    h = log_snr_next - log_snr
    h_prev = np.concatenate([[np.nan], h[:-1]])
    # First order on the first step (no history) and the last two (to t = 0, whose step in
    # log-SNR is several times its predecessor's, so extrapolating x0 overshoots into grain; and
    # from t = 0, h is infinite): the "lower order final" choice, which keeps few-step runs stable.
    second_order = np.isfinite(h) & np.isfinite(h_prev) & (np.arange(num_steps) < num_steps - 2)
    return {
        "t": timesteps.astype(np.int32),
        "sigma_ratio": np.sqrt((1 - alpha_bar_next) / (1 - alpha_bar)).astype(np.float32),
        "data_weight": (np.sqrt(alpha_bar_next) * -np.expm1(-h)).astype(np.float32),
        # 1 / (2 r) with r = h_prev / h, the weight of the x0 difference in the 2M update
        "half_inverse_ratio": np.where(second_order, 0.5 * h / np.where(second_order, h_prev, 1.0), 0.0
                                       ).astype(np.float32),
    }


def dpm_solver_sample(
    denoise: Callable[[jnp.ndarray, jnp.ndarray], jnp.ndarray],
    schedule: Schedule,
    x_T: jnp.ndarray,
    known: jnp.ndarray,
    edit_mask: jnp.ndarray,
    *,
    num_steps: int = 10,
    clip_denoised: bool = True,
) -> jnp.ndarray:
    """Masked DPM-Solver++(2M) (Lu et al. 2022, data prediction): the same denoiser calls, known
    region and timesteps as ddim_sample, but each step extrapolates the predicted x0 from the last
    two, which keeps the trajectory accurate with fewer steps. Deterministic; epsilon, x0 and v
    networks alike (through schedule.predicted_x0)."""
    coefficients = {k: jnp.asarray(v) for k, v in _solver_coefficients(schedule, num_steps).items()}
    known = known.astype(jnp.float32)

    def step(carry, c):
        x, previous_x0 = carry
        x = _paste(x, known, edit_mask)
        x0 = _denoised(denoise, schedule, x, c["t"], clip_denoised)
        data = x0 + c["half_inverse_ratio"] * (x0 - previous_x0)  # (1 + 1/2r) x0 - (1/2r) x0_prev
        return (c["sigma_ratio"] * x + c["data_weight"] * data, x0), None

    x_T = x_T.astype(jnp.float32)
    (x, _), _ = jax.lax.scan(step, (x_T, jnp.zeros_like(x_T)), coefficients)
    return _paste(x, known, edit_mask)


SAMPLERS = {"ddim": ddim_sample, "dpm_solver_2m": dpm_solver_sample}
