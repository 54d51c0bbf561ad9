"""The trained stages, loaded for inference: jitted encode (stage 1), predict (stage 2), render.

Each comes from an Orbax workdir (ours, or one `python -m diffdub_jax.convert` wrote) holding
its config. Shapes are fixed per call site (frames go in fixed-size batches, the last one padded)
so each function compiles once per video.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from diffdub_jax import checkpoints
from diffdub_jax.checkpoints import CheckpointMismatchError
from diffdub_jax.data import audio, audio_features, pipeline
from diffdub_jax.models.renderer import Renderer
from diffdub_jax.training import motion_steps
from diffdub_jax.training.loop import jitted_render, renderer_model
from diffdub_jax.training.motion_loop import motion_model


def _restore(workdir: str, stage: str) -> tuple[ml_collections.ConfigDict, dict]:
    try:
        config = checkpoints.restore_config(workdir)
        variables = checkpoints.restore_variables(workdir)
    except FileNotFoundError:
        raise
    except Exception as error:  # Orbax raises many types for a directory that is not a checkpoint
        raise CheckpointMismatchError(f"{workdir}: not a readable {stage} checkpoint ({type(error).__name__}: "
                                      f"{str(error)[:200]})") from None
    if config.get("stage", stage) != stage:
        raise CheckpointMismatchError(f"{workdir} holds a {config.stage!r} checkpoint, expected {stage!r}")
    return config, variables


def _pad_to(array: np.ndarray, length: int) -> np.ndarray:
    return np.concatenate([array, np.zeros((length - len(array),) + array.shape[1:], array.dtype)])


@dataclasses.dataclass
class DubbingModels:
    renderer_config: ml_collections.ConfigDict
    motion_config: ml_collections.ConfigDict
    renderer_params: dict
    motion_variables: dict
    batch_size: int = 16

    @classmethod
    def load(cls, renderer_workdir: str, motion_workdir: str, batch_size: int = 16) -> "DubbingModels":
        renderer_config, renderer_variables = _restore(renderer_workdir, "renderer")
        motion_config, motion_variables = _restore(motion_workdir, "motion")
        z_renderer, z_motion = renderer_config.model.embed_channels, motion_config.model.latent_dim
        if z_renderer != z_motion:
            raise CheckpointMismatchError(
                f"the renderer in {renderer_workdir} has {z_renderer}-d latents but the motion generator in "
                f"{motion_workdir} predicts {z_motion}-d ones: they were not trained together")
        return cls(renderer_config, motion_config, renderer_variables["params"], motion_variables, batch_size)

    @property
    def image_size(self) -> int:
        return int(self.renderer_config.data.image_size)

    @property
    def mask_window(self) -> int:
        """Frames each side whose edit regions make a frame's mask (0: per frame, the release)."""
        return pipeline.mask_settings(self.renderer_config.data)[0]

    @property
    def mask_dilation(self) -> float:
        """The edit region's dilation in px at 256 (8: the release)."""
        return pipeline.mask_settings(self.renderer_config.data)[1]

    @property
    def num_reference_frames(self) -> int:
        return int(self.motion_config.data.num_reference_frames)

    @functools.cached_property
    def _renderer(self) -> Renderer:
        return renderer_model(self.renderer_config)

    @functools.cached_property
    def _encode(self):
        return jax.jit(lambda params, crops: self._renderer.apply({"params": params}, crops, method=Renderer.encode))

    @functools.cached_property
    def _render(self):
        return jitted_render(self._renderer, self.renderer_config)

    def encode(self, crops: np.ndarray) -> np.ndarray:
        """z_sem of (N, S, S, 3) eye-guided crops in [-1, 1], in fixed-size batches."""
        out = []
        for start in range(0, len(crops), self.batch_size):
            chunk = crops[start : start + self.batch_size]
            out.append(np.asarray(self._encode(self.renderer_params, _pad_to(chunk, self.batch_size)))[: len(chunk)])
        return np.concatenate(out)

    def render(self, images: np.ndarray, reference: np.ndarray, edit_masks: np.ndarray, latents: np.ndarray,
               x_T: np.ndarray) -> np.ndarray:
        """One batch (<= batch_size frames) rendered with DDIM; [-1, 1] in and out."""
        count = len(images)
        batch = {"image": _pad_to(images, self.batch_size),
                 "reference": np.repeat(reference[None], self.batch_size, axis=0),
                 "edit_mask": _pad_to(edit_masks, self.batch_size)}
        rendered = self._render(self.renderer_params, batch, x_T, z_sem=jnp.asarray(_pad_to(latents, self.batch_size)))
        return np.asarray(rendered)[:count]

    def audio_features(self, waveform: np.ndarray, fps: float, num_frames: int, name: str) -> np.ndarray:
        """The features the motion generator was trained on, aligned to num_frames at fps."""
        frontend = self.motion_config.audio.frontend
        if frontend == "mel":
            features = audio.log_mel(waveform, audio.SAMPLE_RATE, self.motion_config.audio.num_mels)
            return audio.align_to_video(features, audio.FEATURE_RATE, fps, num_frames)
        if frontend == "hubert":
            extractor = audio_features.HubertFeatures.from_pretrained(
                self.motion_config.audio.hubert_dir, chunk_seconds=self.motion_config.audio.chunk_seconds,
                context_seconds=self.motion_config.audio.context_seconds)
            return extractor.for_video(waveform, fps, num_frames, name=name).astype(np.float32)
        raise CheckpointMismatchError(f"unknown audio.frontend {frontend!r} in the motion checkpoint's config")

    @functools.cached_property
    def _predict(self):
        return jax.jit(functools.partial(motion_steps.predict, model=motion_model(self.motion_config)))

    def predict(self, features: np.ndarray, reference_latents: np.ndarray, window_frames: int = 1500,
                context_frames: int = 50) -> np.ndarray:
        """(T, D) z_sem for features aligned to T frames (2 per frame on the time axis, the
        second-to-last one) and (R, D) reference latents. Up to window_frames frames go in one
        pass; longer audio goes in windows of that size whose first and last context_frames
        frames (except at the ends) are computed for context and dropped, so attention memory
        stays bounded."""
        def run(window):
            return np.asarray(self._predict(self.motion_variables, window[None], reference_latents[None]))[0]

        frames = features.shape[-2] // 2
        if frames <= window_frames:
            return run(features)
        step, out = window_frames - 2 * context_frames, []
        for start in range(0, frames, step):
            lo, hi = max(0, start - context_frames), min(frames, start + step + context_frames)
            out.append(run(features[..., 2 * lo : 2 * hi, :])[start - lo : min(start + step, frames) - lo])
        return np.concatenate(out)
