"""The release's Gaussian diffusion schedule (T = 1000, linear betas) and what the denoiser predicts.

Coefficients are computed in float64 with numpy, as the release does, and cast to float32 when
used, so sampled trajectories match it closely.

`prediction` says what the network's output means: 'epsilon' (the noise; the release), 'x0' (the
clean image) or 'v' (sqrt(a) noise - sqrt(1 - a) x0; Salimans & Ho 2022). All three describe the
same sampler once converted to a predicted x0; they differ in what a briefly trained network gets
right. An epsilon error at the noisiest steps is amplified by 1/sqrt(SNR) in the image, which is
where the mouth's shape is decided; an x0 or v output states that shape directly.
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np

from diffdub_jax.errors import InvalidInputError

PREDICTIONS = ("epsilon", "x0", "v")


@dataclasses.dataclass(frozen=True)
class Schedule:
    betas: np.ndarray  # (T,) float64
    prediction: str = "epsilon"

    def __post_init__(self):
        if self.prediction not in PREDICTIONS:
            raise InvalidInputError(f"unknown diffusion prediction {self.prediction!r}; choose one of {PREDICTIONS}")

    @classmethod
    def linear(cls, num_timesteps: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02,
               prediction: str = "epsilon") -> "Schedule":
        """The DDPM linear schedule, rescaled like the release when T != 1000."""
        scale = 1000.0 / num_timesteps
        return cls(np.linspace(scale * beta_start, scale * beta_end, num_timesteps, dtype=np.float64), prediction)

    @classmethod
    def from_config(cls, diffusion) -> "Schedule":
        """The schedule of a config's `diffusion` section (linear; its prediction, epsilon if unset)."""
        return cls.linear(diffusion.num_timesteps, diffusion.beta_start, diffusion.beta_end,
                          diffusion.get("prediction", "epsilon"))

    @property
    def num_timesteps(self) -> int:
        return len(self.betas)

    @property
    def alphas_cumprod(self) -> np.ndarray:
        return np.cumprod(1.0 - self.betas)

    @property
    def snr(self) -> np.ndarray:
        """Signal-to-noise ratio a_t / (1 - a_t) per timestep, float64."""
        return self.alphas_cumprod / (1.0 - self.alphas_cumprod)

    def _at(self, values: np.ndarray, t: jnp.ndarray, ndim: int) -> jnp.ndarray:
        """values[t] as float32, shaped to broadcast against a (batch, ...) array of rank ndim."""
        return jnp.asarray(values, jnp.float32)[t].reshape(t.shape + (1,) * (ndim - 1))

    def q_sample(self, x0: jnp.ndarray, t: jnp.ndarray, noise: jnp.ndarray) -> jnp.ndarray:
        """x_t = sqrt(a_t) x0 + sqrt(1 - a_t) noise, t an int array of shape (batch,)."""
        a = self.alphas_cumprod
        return self._at(np.sqrt(a), t, x0.ndim) * x0 + self._at(np.sqrt(1.0 - a), t, x0.ndim) * noise

    def target(self, x0: jnp.ndarray, t: jnp.ndarray, noise: jnp.ndarray) -> jnp.ndarray:
        """What the denoiser should output for x_t = q_sample(x0, t, noise)."""
        if self.prediction == "epsilon":
            return noise
        if self.prediction == "x0":
            return x0
        a = self.alphas_cumprod
        return self._at(np.sqrt(a), t, x0.ndim) * noise - self._at(np.sqrt(1.0 - a), t, x0.ndim) * x0

    def predicted_x0(self, output: jnp.ndarray, x_t: jnp.ndarray, t: jnp.ndarray) -> jnp.ndarray:
        """The clean image the denoiser's output at (x_t, t) stands for."""
        if self.prediction == "x0":
            return output
        a = self.alphas_cumprod
        if self.prediction == "epsilon":  # the release's float64 constants, as ddim's coefficients
            x_scale, output_scale = np.sqrt(1.0 / a), np.sqrt(1.0 / a - 1.0)
        else:
            x_scale, output_scale = np.sqrt(a), np.sqrt(1.0 - a)
        return self._at(x_scale, t, x_t.ndim) * x_t - self._at(output_scale, t, x_t.ndim) * output
