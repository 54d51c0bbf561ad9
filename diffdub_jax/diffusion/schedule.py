"""The release's Gaussian diffusion schedule (T = 1000, linear betas, epsilon prediction).

Coefficients are computed in float64 with numpy, as the release does, and cast to float32 when
used, so sampled trajectories match it closely.
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np


@dataclasses.dataclass(frozen=True)
class Schedule:
    betas: np.ndarray  # (T,) float64

    @classmethod
    def linear(cls, num_timesteps: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02) -> "Schedule":
        """The DDPM linear schedule, rescaled like the release when T != 1000."""
        scale = 1000.0 / num_timesteps
        return cls(np.linspace(scale * beta_start, scale * beta_end, num_timesteps, dtype=np.float64))

    @property
    def num_timesteps(self) -> int:
        return len(self.betas)

    @property
    def alphas_cumprod(self) -> np.ndarray:
        return np.cumprod(1.0 - self.betas)

    def q_sample(self, x0: jnp.ndarray, t: jnp.ndarray, noise: jnp.ndarray) -> jnp.ndarray:
        """x_t = sqrt(a_t) x0 + sqrt(1 - a_t) noise, t an int array of shape (batch,)."""
        sqrt_a = jnp.asarray(np.sqrt(self.alphas_cumprod), jnp.float32)[t]
        sqrt_1ma = jnp.asarray(np.sqrt(1.0 - self.alphas_cumprod), jnp.float32)[t]
        expand = (slice(None),) + (None,) * (x0.ndim - 1)
        return sqrt_a[expand] * x0 + sqrt_1ma[expand] * noise
