"""The stages `train` can run, looked up by a config's `stage`: one Task module each."""

from __future__ import annotations

from typing import Sequence

import ml_collections

from diffdub_jax.errors import InvalidInputError
from diffdub_jax.training import loop, motion, renderer
from diffdub_jax.training.loop import Evaluator
from diffdub_jax.training.state import TrainState
from diffdub_jax.training.task import Task

TASKS: dict[str, Task] = {task.name: task for task in (renderer, motion)}


def get(name: str) -> Task:
    if name not in TASKS:
        raise InvalidInputError(f"unknown stage {name!r}; expected one of {sorted(TASKS)}")
    return TASKS[name]


def train(config: ml_collections.ConfigDict, workdir: str, *, evaluators: Sequence[Evaluator] = (),
          stop_after: int | None = None) -> TrainState:
    """Trains (or resumes) the stage config.stage names in workdir, running evaluators on schedule."""
    return loop.run_stage(get(config.stage), config, workdir, evaluators=evaluators, stop_after=stop_after)
