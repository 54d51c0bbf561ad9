"""Training state: params, their EMA, optimizer state, step and BatchNorm statistics, as one pytree."""

from __future__ import annotations

from typing import Any

import flax
import jax
import jax.numpy as jnp
import ml_collections
import optax

from diffdub_jax.errors import InvalidInputError


@flax.struct.dataclass
class TrainState:
    step: jnp.ndarray
    params: Any
    ema_params: Any
    opt_state: Any
    batch_stats: Any  # running BatchNorm statistics (stage 2); {} for models without BatchNorm


def learning_rate_schedule(train: ml_collections.ConfigDict) -> optax.ScalarOrSchedule:
    """The release's constant rate, or (train.lr_schedule='cosine') a cosine decay to a tenth of
    it over num_steps, which a short run needs to settle instead of ending mid-stride."""
    kind = train.get("lr_schedule", "constant")
    if kind == "constant":
        return train.learning_rate
    if kind == "cosine":
        return optax.cosine_decay_schedule(train.learning_rate, train.num_steps, alpha=0.1)
    raise InvalidInputError(f"unknown lr_schedule {kind!r}; choose 'constant' or 'cosine'")


def make_optimizer(train: ml_collections.ConfigDict) -> optax.GradientTransformation:
    """Adam (no weight decay) after global-norm clipping (grad_clip_norm 0: none), as the release
    trains. A constant learning rate is optimizer state, not a compile-time constant, so changing
    it does not recompile the step."""
    adam = optax.inject_hyperparams(optax.adam)(learning_rate=learning_rate_schedule(train))
    if not train.grad_clip_norm:
        return adam
    return optax.chain(optax.clip_by_global_norm(train.grad_clip_norm), adam)


def create_state(params: Any, optimizer: optax.GradientTransformation, batch_stats: Any = None) -> TrainState:
    return TrainState(step=jnp.zeros((), jnp.int32), params=params,
                      ema_params=jax.tree_util.tree_map(jnp.copy, params),
                      opt_state=optimizer.init(params), batch_stats=batch_stats or {})


def ema_decay_at(step: jnp.ndarray, ema_decay: float, warmup: bool) -> jnp.ndarray:
    """The EMA decay; with warmup it is min(decay, (1 + step) / (10 + step)), so a short run's
    EMA is not dominated by its first, untrained parameters."""
    if not warmup:
        return jnp.asarray(ema_decay, jnp.float32)
    step = step.astype(jnp.float32)
    return jnp.minimum(ema_decay, (1.0 + step) / (10.0 + step))


def apply_gradients(state: TrainState, grads: Any, optimizer: optax.GradientTransformation,
                    ema_decay: float, ema_warmup: bool = False, batch_stats: Any = None) -> TrainState:
    """The optimizer update, the EMA update and (when given) the new BatchNorm statistics."""
    updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    decay = ema_decay_at(state.step, ema_decay, ema_warmup)
    ema_params = optax.incremental_update(params, state.ema_params, step_size=1.0 - decay)
    return TrainState(step=state.step + 1, params=params, ema_params=ema_params, opt_state=opt_state,
                      batch_stats=state.batch_stats if batch_stats is None else batch_stats)
