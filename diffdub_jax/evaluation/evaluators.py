"""The evaluators a config declares, run inside training every `every` steps and by `evaluate`.

    config.evals.NAME = {"type": TYPE, "split": "test", "every": 10_000, ...TYPE's options}

A type says which stage's variables it scores and which datasets it can serve; `build` refuses an
evaluator that cannot run (unknown type, the other stage, a dataset it cannot serve, a missing
renderer) with one line before the first training step, never mid-run.

- `reconstruction` (stage 1, any dataset): held-out frames rendered from their own z_sem (LMD too):
  edit-region PSNR/SSIM against copying the reference frame, the mouth's articulation and
  texture, and lip sync against the true openness where the dataset has it.
- `motion_lipsync` (stage 2, the synthetic set: it needs the true mouth openness): latent error
  and lip sync of renders from predicted latents, one- and few-shot.
- `dubbing` (stage 2, any dataset): held-out clips dubbed through `infer`'s pipeline with their own
  and with another clip's audio, scored as `score` scores (PSNR, SSIM, LMD, the mouth's scores;
  LPIPS, LSE and FID where their weights are given).
Stage 2's evaluators render with the renderer whose latents it trains on (the latents store
records it), or `renderer_workdir` when set.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Sequence

import ml_collections

from diffdub_jax.data import record_store
from diffdub_jax.errors import InvalidInputError, MissingFileError
from diffdub_jax.evaluation import dubbing, motion, reconstruction, score
from diffdub_jax.inference.models import DubbingModels
from diffdub_jax.serving.motion_service import MotionService
from diffdub_jax.serving.renderer_service import RendererService
from diffdub_jax.workdir import Workdir

Run = Callable[[dict, str], dict]  # (the stage's inference variables, output folder) -> scores


def _any_dataset(name: str) -> bool:
    del name
    return True


def _synthetic(name: str) -> bool:
    return name.startswith("synthetic_talking_faces")


@dataclasses.dataclass(frozen=True)
class Evaluator:
    """One declared evaluator, ready to run: `run(variables, output_dir)` returns its scores."""

    name: str
    every: int  # training steps between runs; 0: only from `evaluate`
    run: Run


def _renderer_workdir(config: ml_collections.ConfigDict, settings: ml_collections.ConfigDict) -> str:
    """Stage 2's renderer: settings.renderer_workdir, else the one its latents were extracted with."""
    path = settings.get("renderer_workdir") or record_store.latents(config.data.latents_dir).read_info().get(
        "renderer_workdir")
    if not path or Workdir(path).latest_step() is None:
        raise MissingFileError(f"evaluator needs the renderer that draws stage 2's latents, and {path!r} holds no "
                               f"checkpoint: pass --renderer_workdir=DIR (evaluate) or set "
                               f"--config.evals.NAME.renderer_workdir=DIR")
    return path


def _reconstruction(config: ml_collections.ConfigDict, settings: ml_collections.ConfigDict) -> Run:
    service = RendererService(config, None, config.data.batch_size)

    def run(variables: dict, output_dir: str) -> dict:
        service.params = variables["params"]
        return reconstruction.evaluate_reconstruction(
            config, service, output_dir, split=settings.split, num_batches=settings.batches,
            lipsync_clips=settings.lipsync_clips, lipsync_frames=settings.lipsync_frames)

    return run


def _motion_lipsync(config: ml_collections.ConfigDict, settings: ml_collections.ConfigDict) -> Run:
    renderer = RendererService.from_workdir(_renderer_workdir(config, settings), batch_size=settings.frames)

    def run(variables: dict, output_dir: str) -> dict:
        del output_dir  # scores only
        return motion.evaluate_motion(config, MotionService(config, variables), renderer, split=settings.split,
                                      num_clips=settings.clips, segment_frames=settings.frames)

    return run


def _dubbing(config: ml_collections.ConfigDict, settings: ml_collections.ConfigDict) -> Run:
    renderer_workdir = _renderer_workdir(config, settings)
    checked = DubbingModels.assemble(RendererService.from_workdir(renderer_workdir), MotionService(config, None),
                                     names=(f"in {renderer_workdir}", "this config builds"))
    scorer = score.make_scorer(settings.get("lpips_backbone") or None, settings.get("lpips_net", "alex"),
                               settings.get("syncnet") or None, settings.get("fid_inception") or None)

    def run(variables: dict, output_dir: str) -> dict:
        models = dataclasses.replace(checked, motion=MotionService(config, variables))
        return dubbing.evaluate_dubbing(
            models, output_dir, dataset=config.data.name, data_dir=config.data.data_dir, split=settings.split,
            seed=config.seed, max_clips=settings.get("max_clips") or None,
            max_frames=settings.get("max_frames") or None, settings=tuple(settings.settings), scorer=scorer)

    return run


@dataclasses.dataclass(frozen=True)
class EvaluatorType:
    stage: str  # whose variables it scores
    serves: Callable[[str], bool]  # can it run on this dataset?
    datasets: str  # what `serves` accepts, for the refusal
    make: Callable[[ml_collections.ConfigDict, ml_collections.ConfigDict], Run]


TYPES = {
    "reconstruction": EvaluatorType("renderer", _any_dataset, "any dataset", _reconstruction),
    "motion_lipsync": EvaluatorType("motion", _synthetic, "the synthetic set (it needs the true mouth openness)",
                                    _motion_lipsync),
    "dubbing": EvaluatorType("motion", _any_dataset, "any dataset", _dubbing),
}


def check(config: ml_collections.ConfigDict, names: Sequence[str] | None = None, *,
          only_scheduled: bool = False) -> list[str]:
    """The evaluators to run (names, or all of config.evals; only_scheduled: those with every > 0,
    training's), after refusing any that cannot serve the config's stage and dataset; cheap:
    nothing is loaded."""
    declared = config.get("evals", ml_collections.ConfigDict())
    names = list(declared) if names is None else list(names)
    if only_scheduled:
        names = [name for name in names if name not in declared or declared[name].get("every", 0)]
    for name in names:
        if name not in declared:
            raise InvalidInputError(f"no evaluator {name!r} in config.evals; it declares {sorted(declared)}")
        kind = declared[name].get("type")
        if kind not in TYPES:
            raise InvalidInputError(f"evals.{name}: unknown type {kind!r}; choose one of {sorted(TYPES)}")
        if TYPES[kind].stage != config.stage:
            raise InvalidInputError(f"evals.{name}: a {kind} evaluator scores the {TYPES[kind].stage} stage, and this "
                                    f"config trains the {config.stage} stage")
        if not TYPES[kind].serves(config.data.name):
            raise InvalidInputError(f"evals.{name}: a {kind} evaluator runs on {TYPES[kind].datasets}, not "
                                    f"{config.data.name}; remove it with --config.evals.{name}.every=0 (train) or "
                                    f"choose another with --evals (evaluate)")
    return names


def servable(config: ml_collections.ConfigDict) -> list[str]:
    """The evaluators of config.evals that can run on the config's stage and dataset."""
    return [name for name, settings in config.get("evals", {}).items()
            if settings.get("type") in TYPES and TYPES[settings.type].stage == config.stage
            and TYPES[settings.type].serves(config.data.name)]


def build(config: ml_collections.ConfigDict, names: Sequence[str] | None = None, *,
          only_scheduled: bool = False) -> list[Evaluator]:
    """The evaluators `check` accepts, each with its models set up (a renderer's config read, its
    programs compiled on first run)."""
    return [Evaluator(name, int(config.evals[name].get("every", 0)),
                      TYPES[config.evals[name].type].make(config, config.evals[name]))
            for name in check(config, names, only_scheduled=only_scheduled)]
