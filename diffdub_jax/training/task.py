"""What the generic training loop needs from a stage, as a protocol the stage's module satisfies
(the big_vision way): `training.renderer` and `training.motion` define these names at module
level, `training.tasks` looks one up by `config.stage`, and the loop knows nothing stage-specific."""

from __future__ import annotations

from typing import Any, Callable, Protocol

import ml_collections


class Task(Protocol):
    """One trainable stage."""

    name: str

    def build_model(self, config: ml_collections.ConfigDict) -> Any:
        """The Flax module."""

    def init_variables(self, model: Any, config: ml_collections.ConfigDict, rng: Any) -> dict:
        """Fresh variables (traceable: the loop creates them already sharded)."""

    def make_train_step(self, model: Any, config: ml_collections.ConfigDict, optimizer: Any) -> Callable:
        """step(state, batch, rng) -> (state, metrics)."""

    def input_stream(self, config: ml_collections.ConfigDict, split: str, shard_index: int, shard_count: int) -> Any:
        """A grain iterable of batches for this process's shard of the clips."""

    def model_inputs(self, batch: dict) -> dict:
        """The arrays of a pipeline batch the step reads (what goes to the devices)."""

    def check(self, config: ml_collections.ConfigDict) -> None:
        """Fails with a UserError, before any device work, on inputs that do not fit the config."""

    def make_sampler(self, config: ml_collections.ConfigDict, workdir: Any, writer: Any) -> Callable | None:
        """sampler(state, step), run every train.sample_every steps, or None."""
