"""Training state: params, their EMA, optimizer state and step, as one pytree."""

from __future__ import annotations

from typing import Any

import flax
import jax
import jax.numpy as jnp
import ml_collections
import optax


@flax.struct.dataclass
class TrainState:
    step: jnp.ndarray
    params: Any
    ema_params: Any
    opt_state: Any


def make_optimizer(train: ml_collections.ConfigDict) -> optax.GradientTransformation:
    """Adam (no weight decay) after global-norm clipping, as the release trains. The learning rate
    is optimizer state, not a compile-time constant, so changing it does not recompile the step."""
    return optax.chain(optax.clip_by_global_norm(train.grad_clip_norm),
                       optax.inject_hyperparams(optax.adam)(learning_rate=train.learning_rate))


def create_state(params: Any, optimizer: optax.GradientTransformation) -> TrainState:
    return TrainState(step=jnp.zeros((), jnp.int32), params=params,
                      ema_params=jax.tree_util.tree_map(jnp.copy, params),
                      opt_state=optimizer.init(params))


def apply_gradients(state: TrainState, grads: Any, optimizer: optax.GradientTransformation,
                    ema_decay: float) -> TrainState:
    updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    ema_params = optax.incremental_update(params, state.ema_params, step_size=1.0 - ema_decay)
    return TrainState(step=state.step + 1, params=params, ema_params=ema_params, opt_state=opt_state)
