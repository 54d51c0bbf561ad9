"""Stage 2 as a service: audio features + reference latents -> z_sem per frame, jitted.

`infer` and the held-out motion evaluation both predict through `MotionService`, and choose their
reference frames with `reference_indices`.
"""

from __future__ import annotations

import functools
import os
from typing import Callable

import jax
import ml_collections
import numpy as np

from diffdub_jax.models.motion import MotionGenerator, build_motion_generator
from diffdub_jax.workdir import Workdir

REFERENCE_MODES = ("few_shot", "one_shot")
# Windows are padded (and masked) up to a multiple of this many frames, so clips of similar length
# run one compiled program instead of compiling for each length (about a second on a CPU per clip).
LENGTH_BUCKET = 128


def reference_indices(candidates: np.ndarray, count: int, mode: str) -> np.ndarray:
    """`count` reference frames from candidate frame indices (in order): the first `count` of them
    (few-shot, the release's first 3 s; cycled if fewer), or the first one repeated (one-shot)."""
    candidates = np.asarray(candidates)
    if mode == "one_shot":
        return np.repeat(candidates[:1], count)
    if mode == "few_shot":
        return np.resize(candidates, count)
    raise ValueError(f"unknown reference mode {mode!r}; choose one of {REFERENCE_MODES}")


def predict(variables: dict, audio_features, reference_latents, valid=None, *, model: MotionGenerator):
    """z_sem per frame in inference mode (running BatchNorm statistics, no dropout)."""
    return model.apply(variables, audio_features, reference_latents, valid)


class MotionService:
    """A motion-generator config and its variables, with a jitted, windowed `predict`. From a
    workdir, the config is read at once and the variables on first use."""

    def __init__(self, config: ml_collections.ConfigDict, variables: dict | None,
                 load_variables: Callable[[], dict] | None = None):
        self.config = config
        self._variables, self._load_variables = variables, load_variables
        self.model = build_motion_generator(config.model)

    @classmethod
    def from_workdir(cls, workdir: str | os.PathLike) -> "MotionService":
        run = Workdir(workdir)
        return cls(run.inference_config("motion"), None, load_variables=run.restore_variables)

    @property
    def variables(self) -> dict:
        if self._variables is None and self._load_variables is not None:
            self._variables = self._load_variables()
        return self._variables

    @property
    def latent_dim(self) -> int:
        return int(self.config.model.latent_dim)

    @property
    def num_reference_frames(self) -> int:
        return int(self.config.data.num_reference_frames)

    @functools.cached_property
    def _predict(self):
        return jax.jit(functools.partial(predict, model=self.model))

    def predict(self, features: np.ndarray, reference_latents: np.ndarray, window_frames: int = 1500,
                context_frames: int = 50) -> np.ndarray:
        """(T, D) z_sem for features aligned to T frames (2 per frame on the time axis, the
        second-to-last one) and (R, D) reference latents. Up to window_frames frames go in one
        pass; longer audio goes in windows of that size whose first and last context_frames
        frames (except at the ends) are computed for context and dropped, so attention memory
        stays bounded."""
        def run(window):
            count = window.shape[-2]
            frames_out = (count + 1) // 2  # the stride-2 audio convolution's output length
            padded = min(max(window_frames, frames_out), -(-frames_out // LENGTH_BUCKET) * LENGTH_BUCKET)
            audio = np.zeros(window.shape[:-2] + (2 * padded, window.shape[-1]), np.float32)
            audio[..., :count, :] = window
            valid = np.arange(padded) < frames_out
            latents = self._predict(self.variables, audio[None], np.asarray(reference_latents)[None], valid[None])
            return np.asarray(latents)[0, :frames_out]

        frames = features.shape[-2] // 2
        if frames <= window_frames:
            return run(features)
        step, out = window_frames - 2 * context_frames, []
        for start in range(0, frames, step):
            lo, hi = max(0, start - context_frames), min(frames, start + step + context_frames)
            out.append(run(features[..., 2 * lo : 2 * hi, :])[start - lo : min(start + step, frames) - lo])
        return np.concatenate(out)
