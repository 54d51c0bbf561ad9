"""Stage 1 as a service: encode crops to z_sem and render frames, jitted once per batch size.

Every caller that runs a trained renderer goes through `RendererService`: `infer`, the held-out
evaluations, latent extraction for stage 2, the training-time sampler and the benchmark. Inputs of
any length go in fixed-size batches (the last one padded), sharded over the mesh's data axis, so a
service compiles each program once; outputs come back as numpy arrays of the input's length.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from typing import Any, Callable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from diffdub_jax import parallel
from diffdub_jax.data.framing import Framing
from diffdub_jax.diffusion import ddim
from diffdub_jax.diffusion.schedule import Schedule
from diffdub_jax.errors import InvalidInputError
from diffdub_jax.models.renderer import Renderer, renderer_from_config
from diffdub_jax.workdir import Workdir


def render(params, batch: dict, x_T: jnp.ndarray, *, model: Renderer, schedule: Schedule,
           num_steps: int, z_sem: jnp.ndarray | None = None, sampler: str = "ddim",
           reference: jnp.ndarray | None = None) -> jnp.ndarray:
    """Redraws the edit region of batch['image'] with the sampler (ddim.SAMPLERS: the release's
    'ddim' or 'dpm_solver_2m'). z_sem defaults to the encoding of batch['encoder_crop']
    (reconstruction); stage 2 passes predicted codes instead. The reference frames are
    batch['reference'], or one (S, S, 3 R) `reference` for every row (a dub's: sent once)."""
    if z_sem is None:
        z_sem = model.apply({"params": params}, batch["encoder_crop"], method=Renderer.encode)
    references = batch["reference"] if reference is None else jnp.broadcast_to(
        reference, batch["image"].shape[:-1] + reference.shape[-1:])

    def denoise(x_t, t):
        return model.apply({"params": params}, x_t, references, t, z_sem, method=Renderer.denoise)

    if sampler not in ddim.SAMPLERS:
        raise InvalidInputError(f"unknown diffusion.sampler {sampler!r}; choose one of {sorted(ddim.SAMPLERS)}")
    x_T = jnp.broadcast_to(x_T, batch["image"].shape)
    return ddim.SAMPLERS[sampler](denoise, schedule, x_T, batch["image"], batch["edit_mask"], num_steps=num_steps)


@dataclasses.dataclass(frozen=True)
class RenderOptions:
    """How a trained renderer samples, where the user may differ from its checkpoint's config:
    compute dtype ('bfloat16' halves the UNet's time on accelerators; GroupNorm statistics and the
    sampler's arithmetic stay float32), sampler (ddim.SAMPLERS) and steps. None keeps the config's."""

    compute_dtype: str | None = None
    sampler: str | None = None
    num_steps: int | None = None

    def applied_to(self, config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
        if self.compute_dtype not in (None, *COMPUTE_DTYPES):
            raise InvalidInputError(f"unknown compute dtype {self.compute_dtype!r}; choose one of {COMPUTE_DTYPES}")
        if self.sampler not in (None, *ddim.SAMPLERS):
            raise InvalidInputError(f"unknown sampler {self.sampler!r}; choose one of {sorted(ddim.SAMPLERS)}")
        if self.num_steps is not None:
            ddim.ddim_timesteps(int(config.diffusion.num_timesteps), self.num_steps)  # a clear error for bad steps
        config = config.copy_and_resolve_references()
        with config.unlocked():
            if self.compute_dtype:
                config.model.compute_dtype = self.compute_dtype
            if self.sampler:
                config.diffusion.sampler = self.sampler
            if self.num_steps:
                config.diffusion.sample_steps = self.num_steps
        return config


COMPUTE_DTYPES = ("float32", "bfloat16")


def _pad_to(array: np.ndarray, length: int) -> np.ndarray:
    array = np.asarray(array)
    return np.concatenate([array, np.zeros((length - len(array),) + array.shape[1:], array.dtype)])


class RendererService:
    """A renderer config and its (EMA) parameters, with jitted, fixed-batch encode and render.

    `params` may be replaced between calls (the training sampler passes the current EMA
    parameters); the compiled programs are kept. From a workdir, the config is read at once and
    the parameters on first use, so callers can check every input before the heavy loading.
    """

    def __init__(self, config: ml_collections.ConfigDict, params, batch_size: int = 16,
                 num_steps: int | None = None, load_params: Callable[[], Any] | None = None):
        self.config = config
        self._load_params = load_params
        self.model = renderer_from_config(config)
        self.framing = Framing.from_config(config.data)
        # This process's devices only: each process renders its own frames from host arrays, so the
        # training sampler, evaluators and latent extraction run in a multi-process job too.
        self.mesh = parallel.make_mesh(jax.local_devices())
        self.params = params
        self.batch_size = -(-batch_size // self.mesh.size) * self.mesh.size  # whole shards per device
        self.num_steps = num_steps or int(config.diffusion.sample_steps)
        self._renders: dict[tuple[int, bool], Any] = {}
        self.sampler = config.diffusion.get("sampler", "ddim")
        self.schedule = Schedule.from_config(config.diffusion)
        # which weights these are ('WORKDIR@STEP' from a workdir; None for parameters passed in),
        # so that what is computed with them can be kept and found again (prepared videos)
        self.checkpoint: str | None = None

    @classmethod
    def from_workdir(cls, workdir: str | os.PathLike, batch_size: int = 16,
                     options: "RenderOptions | None" = None) -> "RendererService":
        run = Workdir(workdir)
        config = (options or RenderOptions()).applied_to(run.inference_config("renderer"))
        service = cls(config, None, batch_size, load_params=lambda: run.restore_variables()["params"])
        service.checkpoint = f"{run.path}@{run.latest_step()}"
        return service

    @property
    def params(self):
        """The parameters, replicated on this process's devices (placed once per assignment)."""
        if self._params is None and self._load_params is not None:
            self._params = self.replicated(self._load_params())
        return self._params

    @params.setter
    def params(self, value) -> None:
        self._params = None if value is None else self.replicated(value)

    @property
    def image_size(self) -> int:
        return self.framing.image_size

    @property
    def latent_dim(self) -> int:
        return int(self.config.model.embed_channels)

    def noise(self, seed: int) -> np.ndarray:
        """The DDIM start noise x_T (1, S, S, 3) every frame of a render shares."""
        return np.asarray(jax.random.normal(jax.random.key(seed), (1, self.image_size, self.image_size, 3)))

    @functools.cached_property
    def _encode(self):
        batch = parallel.batch_sharding(self.mesh)
        return jax.jit(lambda params, crops: self.model.apply({"params": params}, crops, method=Renderer.encode),
                       in_shardings=(parallel.replicated(self.mesh), batch), out_shardings=batch)

    def _render(self, shared_reference: bool):
        """The jitted render for the current num_steps (which a caller may change between calls:
        the web app's sampler steps), with a reference per row or one for all; each compiles once."""
        key = (self.num_steps, shared_reference)
        if key not in self._renders:
            batch, replicated = parallel.batch_sharding(self.mesh), parallel.replicated(self.mesh)
            step = functools.partial(render, model=self.model, schedule=self.schedule, num_steps=self.num_steps,
                                     sampler=self.sampler)
            self._renders[key] = jax.jit(
                lambda params, inputs, x_T, z_sem, reference: step(params, inputs, x_T, z_sem=z_sem,
                                                                   reference=reference),
                in_shardings=(replicated, batch, replicated, batch, replicated if shared_reference else None),
                out_shardings=batch)
        return self._renders[key]

    def _batches(self, count: int):
        for start in range(0, count, self.batch_size):
            yield slice(start, min(start + self.batch_size, count))

    def _batch(self, array: np.ndarray):
        """A host batch split over this process's devices (a multi-process run's jit takes no numpy
        input with a sharding, so it is placed explicitly)."""
        return jax.device_put(array, parallel.batch_sharding(self.mesh))

    def replicated(self, tree):
        """tree on every device of this process; a tree already placed so is not copied again: a
        dub places its reference frame and x_T once per clip."""
        tree = jax.tree_util.tree_map(lambda leaf: leaf if isinstance(leaf, jax.Array) else np.asarray(leaf), tree)
        return jax.device_put(tree, parallel.replicated(self.mesh))

    def encode(self, crops: np.ndarray) -> np.ndarray:
        """(N, D) z_sem of (N, S, S, 3) eye-guided crops in [-1, 1]."""
        out = [np.asarray(self._encode(self.params, self._batch(_pad_to(crops[part], self.batch_size))))[
            : part.stop - part.start] for part in self._batches(len(crops))]
        return np.concatenate(out) if out else np.zeros((0, self.latent_dim), np.float32)

    def submit(self, images: np.ndarray, references: np.ndarray, edit_masks: np.ndarray, x_T: np.ndarray,
               z_sem: np.ndarray | None = None, encoder_crops: np.ndarray | None = None) -> "PendingRender":
        """Starts rendering (N, S, S, 3) images in [-1, 1] with their edit regions (N, S, S, 1)
        redrawn from z_sem (N, D), or from the encoding of encoder_crops (reconstruction), and
        returns at once: JAX runs the batches on the device while the caller works on the host
        (`dub` pastes and encodes the previous batch). references: (N, S, S, 3 R), or one
        (S, S, 3 R) for every frame. x_T: (1, S, S, 3)."""
        if (z_sem is None) == (encoder_crops is None):
            raise ValueError("render needs exactly one of z_sem and encoder_crops")
        if z_sem is None:
            z_sem = self.encode(encoder_crops)
        shared = np.ndim(references) == 3
        # one reference and x_T go to the devices once (no copy when the caller placed them already)
        reference = self.replicated(references) if shared else None
        x_T = self.replicated(x_T if isinstance(x_T, jax.Array) else np.asarray(x_T, np.float32))
        params, program = self.params, self._render(shared)
        parts = []
        for part in self._batches(len(images)):
            inputs = {"image": _pad_to(images[part], self.batch_size),
                      "edit_mask": _pad_to(edit_masks[part], self.batch_size)}
            if not shared:
                inputs["reference"] = _pad_to(np.asarray(references[part]), self.batch_size)
            rendered = program(params, self._batch(inputs), x_T,
                               self._batch(_pad_to(np.asarray(z_sem[part], np.float32), self.batch_size)), reference)
            parts.append((rendered, part.stop - part.start))
        return PendingRender(parts)

    def render(self, images: np.ndarray, references: np.ndarray, edit_masks: np.ndarray, x_T: np.ndarray,
               z_sem: np.ndarray | None = None, encoder_crops: np.ndarray | None = None) -> np.ndarray:
        """`submit`, waited for: the (N, S, S, 3) renders in [-1, 1]."""
        return self.submit(images, references, edit_masks, x_T, z_sem, encoder_crops).result()


@dataclasses.dataclass
class PendingRender:
    """Renders under way on the device: (padded batch, frames of it that count) per batch."""

    parts: list

    def result(self) -> np.ndarray:
        """The renders as one numpy array, waiting for the device if it is still at work."""
        return np.concatenate([np.asarray(rendered)[:count] for rendered, count in self.parts])
