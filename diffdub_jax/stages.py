"""The stage registry: what `train`, `evaluate` and `convert` look up by a config's `stage`.

Each stage names its model factory, initialiser, train step, input stream, sampler, evaluator
and release converter; the generic loop (training.loop.run_stage) and the CLIs know nothing
stage-specific. Adding a stage is adding an entry here.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping

import ml_collections

from diffdub_jax.convert import motion as motion_convert
from diffdub_jax.convert import renderer as renderer_convert
from diffdub_jax.data import pipeline
from diffdub_jax.evaluation import motion as motion_evaluation
from diffdub_jax.evaluation import reconstruction
from diffdub_jax.models.motion import build_motion_generator
from diffdub_jax.models.renderer import renderer_from_config
from diffdub_jax.training import loop
from diffdub_jax.training import motion as motion_training
from diffdub_jax.training import renderer as renderer_training
from diffdub_jax.training.state import TrainState


@dataclasses.dataclass(frozen=True)
class EvalOptions:
    """What `evaluate` can be asked; each stage reads the fields it needs."""

    split: str = "test"
    batches: int = 8  # renderer: held-out batches rendered
    clips: int = 8  # motion: held-out clips
    renderer_workdir: str | None = None  # motion: the stage-1 workdir that renders its latents


@dataclasses.dataclass(frozen=True)
class Stage:
    name: str
    build_model: Callable[[ml_collections.ConfigDict], Any]
    init_variables: Callable[[Any, ml_collections.ConfigDict, Any], dict]  # (model, config, rng), traceable
    make_train_step: Callable[..., Callable]  # (model, config, optimizer) -> step(state, batch, rng)
    input_stream: Callable[..., Any]  # (config, split, shard_index, shard_count) -> grain iterable
    model_inputs: Callable[[dict], dict]  # the arrays of a pipeline batch the step reads
    evaluate: Callable[[ml_collections.ConfigDict, str, EvalOptions], dict]
    convert: Callable[..., ml_collections.ConfigDict]  # (path, output, weights, config, checkpoint)
    recognises: Callable[[Mapping], bool]  # does a release state dict hold this stage?
    check: Callable[[ml_collections.ConfigDict], None] = lambda config: None  # fail early on bad input
    make_sampler: Callable[..., Callable | None] = lambda config, workdir, writer: None


def _evaluate_renderer(config: ml_collections.ConfigDict, workdir: str, options: EvalOptions) -> dict:
    return reconstruction.evaluate_reconstruction(config, workdir, options.split, options.batches)


def _evaluate_motion(config: ml_collections.ConfigDict, workdir: str, options: EvalOptions) -> dict:
    if not options.renderer_workdir:
        raise ValueError("evaluating stage 2 needs the renderer that draws its latents: --renderer_workdir")
    return motion_evaluation.evaluate_motion(config, workdir, options.renderer_workdir, split=options.split,
                                             num_clips=options.clips)


RENDERER = Stage(
    name="renderer", build_model=renderer_from_config, init_variables=renderer_training.init_variables,
    make_train_step=renderer_training.make_train_step, input_stream=renderer_training.input_stream,
    model_inputs=pipeline.renderer_inputs, evaluate=_evaluate_renderer,
    convert=renderer_convert.convert_renderer_checkpoint, recognises=renderer_convert.is_renderer_state_dict,
    make_sampler=renderer_training.make_sampler)

MOTION = Stage(
    name="motion", build_model=lambda config: build_motion_generator(config.model),
    init_variables=motion_training.init_variables, make_train_step=motion_training.make_train_step,
    input_stream=motion_training.input_stream, model_inputs=motion_training.model_inputs,
    evaluate=_evaluate_motion, convert=motion_convert.convert_motion_checkpoint,
    recognises=motion_convert.is_motion_state_dict, check=motion_training.check_inputs)

STAGES = {stage.name: stage for stage in (MOTION, RENDERER)}


def get(name: str) -> Stage:
    if name not in STAGES:
        raise ValueError(f"unknown stage {name!r}; expected one of {sorted(STAGES)}")
    return STAGES[name]


def train(config: ml_collections.ConfigDict, workdir: str, *, stop_after: int | None = None) -> TrainState:
    """Trains (or resumes) the stage config.stage names in workdir."""
    return loop.run_stage(get(config.stage), config, workdir, stop_after=stop_after)


def stage_of_release(state_dict: Mapping) -> Stage:
    """The stage a release (PyTorch) state dict holds; ValueError naming its keys otherwise."""
    for stage in STAGES.values():
        if stage.recognises(state_dict):
            return stage
    raise ValueError(f"not a DiffDub/diffae stage-1 or stage-2 checkpoint; keys look like {sorted(state_dict)[:5]}")
