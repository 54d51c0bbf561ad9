"""What the generic training loop needs from a stage, as a protocol: the loop depends on this, and
each stage's entry in `diffdub_jax.stages` satisfies it, so the loop never imports the registry."""

from __future__ import annotations

from typing import Any, Callable, Protocol

import ml_collections


class Task(Protocol):
    """One trainable stage: its model, initial variables, train step, input stream, the arrays of a
    batch the step reads, an early input check and an optional in-training sampler."""

    name: str
    build_model: Callable[[ml_collections.ConfigDict], Any]
    init_variables: Callable[[Any, ml_collections.ConfigDict, Any], dict]  # (model, config, rng), traceable
    make_train_step: Callable[..., Callable]  # (model, config, optimizer) -> step(state, batch, rng)
    input_stream: Callable[..., Any]  # (config, split, shard_index, shard_count) -> grain iterable
    model_inputs: Callable[[dict], dict]
    check: Callable[[ml_collections.ConfigDict], None]  # fails early on bad input
    make_sampler: Callable[..., Callable | None]  # (config, workdir, writer) -> sampler(state, step) or None
