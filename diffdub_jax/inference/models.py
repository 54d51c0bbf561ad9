"""The trained stages a dub needs, loaded once: renderer, motion generator and audio frontend.

Each comes from a workdir (ours, or one `python -m diffdub_jax.convert` wrote) holding its config;
loading checks that the two stages fit each other before any video is read.
"""

from __future__ import annotations

import dataclasses
import os

from diffdub_jax.serving.audio_frontend import AudioFrontend
from diffdub_jax.serving.motion_service import MotionService
from diffdub_jax.serving.renderer_service import RendererService, RenderOptions
from diffdub_jax.workdir import CheckpointMismatchError


@dataclasses.dataclass
class DubbingModels:
    renderer: RendererService
    motion: MotionService
    audio: AudioFrontend

    @classmethod
    def load(cls, renderer_workdir: str | os.PathLike, motion_workdir: str | os.PathLike, batch_size: int = 16,
             hubert_dir: str | None = None, render_options: RenderOptions | None = None) -> "DubbingModels":
        """Both stages from their workdirs; batch_size frames are rendered per call; hubert_dir
        overrides the HuBERT folder the motion config names; render_options the renderer's dtype,
        sampler and steps. Checks, in about a second, that the
        checkpoints are readable and fit each other and that the audio features can be made;
        the weights load on first use."""
        return cls.assemble(RendererService.from_workdir(renderer_workdir, batch_size, render_options),
                            MotionService.from_workdir(motion_workdir), hubert_dir,
                            names=(f"in {renderer_workdir}", f"in {motion_workdir}"))

    @classmethod
    def assemble(cls, renderer: RendererService, motion: MotionService, hubert_dir: str | None = None, *,
                 names: tuple[str, str] = ("", "")) -> "DubbingModels":
        """The two services and the motion config's audio frontend, after checking that the stages
        fit each other and the audio features can be made; names: where each stage comes from,
        for the message."""
        if renderer.latent_dim != motion.latent_dim:
            raise CheckpointMismatchError(
                f"the renderer {names[0]} has {renderer.latent_dim}-d latents but the motion generator {names[1]} "
                f"predicts {motion.latent_dim}-d ones: they were not trained together")
        frontend = AudioFrontend(motion.config.audio, hubert_dir)
        frontend.check(motion.config.model)
        return cls(renderer, motion, frontend)


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """What DubbingModels.load takes, as a value: a Beam worker receives it and loads the models
    once (DoFn.setup), where the models themselves would not pickle."""

    renderer_workdir: str
    motion_workdir: str
    batch_size: int = 16
    hubert_dir: str | None = None
    render_options: RenderOptions | None = None

    def load(self) -> DubbingModels:
        return DubbingModels.load(self.renderer_workdir, self.motion_workdir, self.batch_size,
                                  hubert_dir=self.hubert_dir, render_options=self.render_options)
