"""The training loop the stages share (sharded jitted steps, Orbax resume, TensorBoard, progress
bar), and stage 1's use of it.

The same code runs on one CPU, on N fake CPU devices and on TPU/GPU pods: the batch is split over
the mesh's 'data' axis and each process reads its own shard of the clips. Checkpoints hold the
model state, the data-iterator position and the config, so a restarted job continues exactly
where it stopped. A non-finite loss stops the run before anything non-finite is saved.
"""

from __future__ import annotations

import functools
import os
import time
from typing import Any, Callable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from PIL import Image
from tensorboardX import SummaryWriter
from tqdm import tqdm

from diffdub_jax import checkpoints, parallel
from diffdub_jax.data import datasets, pipeline
from diffdub_jax.diffusion.schedule import Schedule
from diffdub_jax.models.renderer import Renderer, build_renderer
from diffdub_jax.training import renderer_steps
from diffdub_jax.training.state import TrainState, create_state, learning_rate_schedule, make_optimizer


class NonFiniteLossError(FloatingPointError):
    """Raised when the loss is NaN/inf; the last good checkpoint is kept."""


def renderer_model(config: ml_collections.ConfigDict) -> Renderer:
    return build_renderer(config.model, config.data.image_size, config.data.num_references)


def schedule_from_config(config: ml_collections.ConfigDict) -> Schedule:
    d = config.diffusion
    return Schedule.linear(d.num_timesteps, d.beta_start, d.beta_end, d.get("prediction", "epsilon"))


def jitted_render(model: Renderer, config: ml_collections.ConfigDict) -> Callable:
    """renderer_steps.render, jitted, with the config's schedule (its prediction included) and
    number of DDIM steps: the one way training, evaluation, inference and the benchmark render."""
    return jax.jit(functools.partial(renderer_steps.render, model=model, schedule=schedule_from_config(config),
                                     num_steps=config.diffusion.sample_steps))


def init_params(model: Renderer, config: ml_collections.ConfigDict, rng: jax.Array):
    size, refs = config.data.image_size, config.data.num_references
    image = jnp.zeros((1, size, size, 3), jnp.float32)
    reference = jnp.zeros((1, size, size, 3 * refs), jnp.float32)
    init = jax.jit(lambda key: model.init(key, image, reference, jnp.zeros((1,), jnp.int32), image)["params"])
    return init(rng)


def _initial_params(model: Renderer, config: ml_collections.ConfigDict):
    params = init_params(model, config, jax.random.key(config.seed))
    if not config.train.init_from:
        return params
    loaded = checkpoints.restore_params(config.train.init_from)
    # Copy every parameter whose shape matches (diffae's 3-channel input conv does not).
    flat_new = jax.tree_util.tree_flatten_with_path(params)[0]
    flat_loaded = {jax.tree_util.keystr(p): v for p, v in jax.tree_util.tree_flatten_with_path(loaded)[0]}
    leaves = []
    for path, value in flat_new:
        source = flat_loaded.get(jax.tree_util.keystr(path))
        leaves.append(jnp.asarray(source) if source is not None and source.shape == value.shape else value)
    return jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(params), leaves)


def sample_grid(batch: dict, rendered: np.ndarray) -> np.ndarray:
    """Rows of (source | masked input | rendered | target) as uint8, for TensorBoard and PNG."""
    def to_uint8(x):
        return np.clip((np.asarray(x) + 1) * 127.5, 0, 255).astype(np.uint8)
    masked = batch["image"] * (1 - batch["edit_mask"])
    reference = batch["reference"][..., :3]
    rows = [np.concatenate([to_uint8(reference[i]), to_uint8(masked[i]), to_uint8(rendered[i]),
                            to_uint8(batch["image"][i])], axis=1) for i in range(len(rendered))]
    return np.concatenate(rows, axis=0)


def train_renderer(config: ml_collections.ConfigDict, workdir: str, *, stop_after: int | None = None) -> TrainState:
    """Trains (or resumes) stage 1 in workdir. stop_after ends the run early at that step, as a
    preemption would (used by the resume test)."""
    model = renderer_model(config)
    schedule = schedule_from_config(config)
    optimizer = make_optimizer(config.train)
    step_fn = functools.partial(renderer_steps.train_step, model=model, schedule=schedule, optimizer=optimizer,
                                ema_decay=config.train.ema_decay, ema_warmup=config.train.ema_warmup,
                                loss_weighting=config.diffusion.loss_weighting,
                                min_snr_gamma=config.diffusion.min_snr_gamma)
    return run_stage(
        config, workdir, name="renderer", optimizer=optimizer, step_fn=step_fn,
        make_stream=lambda host_config, index, count: pipeline.renderer_pipeline(
            host_config, "train", shard_index=index, shard_count=count),
        batch_inputs=_model_inputs, initial_variables=lambda: {"params": _initial_params(model, config)},
        make_sampler=lambda writer: (_validation_sampler(config, model, workdir, writer)
                                     if config.train.sample_every else None),
        stop_after=stop_after)


def run_stage(config: ml_collections.ConfigDict, workdir: str, *, name: str,
              optimizer: optax.GradientTransformation, step_fn: Callable,
              make_stream: Callable[[ml_collections.ConfigDict, int, int], Any],
              batch_inputs: Callable[[dict], dict], initial_variables: Callable[[], dict],
              make_sampler: Callable[[SummaryWriter | None], Callable | None] = lambda writer: None,
              stop_after: int | None = None) -> TrainState:
    """The training loop every stage shares: mesh, per-host data shard, sharded jitted step,
    Orbax resume, TensorBoard scalars, progress bar, non-finite-loss stop.

    step_fn(state, batch, rng) -> (state, metrics with 'loss' and 'grad_norm'); batch_inputs picks
    the arrays the step needs from a pipeline batch; initial_variables() gives {'params'[,
    'batch_stats']}; make_sampler(writer) may return sampler(state, step), called every
    train.sample_every steps.
    """
    mesh = parallel.make_mesh()
    process, processes = jax.process_index(), jax.process_count()
    if config.data.batch_size % (mesh.size) != 0:
        raise ValueError(f"data.batch_size {config.data.batch_size} must be a multiple of the "
                         f"{mesh.size} devices")
    host_config = config.copy_and_resolve_references()
    host_config.data.batch_size = config.data.batch_size // processes
    iterator = iter(make_stream(host_config, process, processes))
    config = config.copy_and_resolve_references()  # + the data's version, saved with each checkpoint
    with config.unlocked():
        config.data.dataset_version = datasets.dataset_version(config.data.name, config.data.data_dir)

    variables = initial_variables()
    state = create_state(variables["params"], optimizer, variables.get("batch_stats"))
    state_sharding = parallel.parameter_sharding(state, mesh, config.train.fsdp)
    state = jax.device_put(state, state_sharding)

    run = checkpoints.RunCheckpoints(workdir, keep=config.train.keep_checkpoints)
    latest = run.latest_step()
    if latest is not None:
        state, data_state = run.restore(latest, checkpoints.abstract_like(state), config)
        iterator.set_state(data_state)

    step_fn = jax.jit(step_fn, in_shardings=(state_sharding, parallel.batch_sharding(mesh), parallel.replicated(mesh)),
                      out_shardings=(state_sharding, parallel.replicated(mesh)), donate_argnums=(0,))
    rng = jax.random.key(config.seed + 1)

    writer = SummaryWriter(os.path.join(workdir, "tensorboard")) if process == 0 else None
    sampler = make_sampler(writer)
    sample_every = config.train.get("sample_every", 0)
    learning_rate = learning_rate_schedule(config.train)  # for logging; the optimizer holds its own
    last_step = config.train.num_steps if stop_after is None else min(stop_after, config.train.num_steps)
    start = int(state.step)
    progress = tqdm(range(start, last_step), initial=start, total=last_step, desc=name, disable=process != 0)
    tick, tick_step = time.time(), start
    for step in progress:
        batch = parallel.shard_batch(batch_inputs(next(iterator)), mesh)
        state, metrics = step_fn(state, batch, rng)
        done = step + 1
        should_log = done % config.train.log_every == 0 or done == last_step
        should_save = done % config.train.checkpoint_every == 0 or done == last_step
        if should_log or should_save:
            metrics = jax.device_get(metrics)
            if not np.isfinite(metrics["loss"]):
                run.wait()
                raise NonFiniteLossError(
                    f"loss became {metrics['loss']} at step {done}; stopped without saving. The last "
                    f"good checkpoint (step {run.latest_step()}) is in {run.directory}")
        if should_log:
            steps_per_second = (done - tick_step) / max(time.time() - tick, 1e-9)
            tick, tick_step = time.time(), done
            progress.set_postfix(loss=f"{metrics['loss']:.4f}")
            if writer:
                writer.add_scalar("train/loss", float(metrics["loss"]), done)
                writer.add_scalar("train/grad_norm", float(metrics["grad_norm"]), done)
                writer.add_scalar("train/learning_rate",
                                  float(learning_rate(done) if callable(learning_rate) else learning_rate), done)
                writer.add_scalar("train/steps_per_second", steps_per_second, done)
        if should_save:
            run.save(done, state, iterator.get_state(), config)
        if sampler and sample_every and (done % sample_every == 0 or done == last_step):
            sampler(state, done)
    run.wait()
    run.close()
    if writer:
        writer.close()
    return state


MODEL_INPUTS = ("image", "reference", "encoder_crop", "edit_mask")


def _model_inputs(batch: dict) -> dict:
    return {key: batch[key] for key in MODEL_INPUTS}


def _validation_sampler(config, model, workdir, writer):
    """Renders a fixed held-out batch with the EMA params and logs the grid."""
    val_config = config.copy_and_resolve_references()
    val_config.data.batch_size = min(8, config.data.batch_size)
    batch = _model_inputs(next(iter(pipeline.renderer_pipeline(val_config, "test", augment_crop=False))))
    size = config.data.image_size
    x_T = jax.random.normal(jax.random.key(config.seed + 2), (1, size, size, 3))
    render = jitted_render(model, config)

    def sample(state, step):
        rendered = np.asarray(render(state.ema_params, batch, x_T))  # every process computes, process 0 writes
        if writer:
            grid = sample_grid(batch, rendered)
            os.makedirs(os.path.join(workdir, "samples"), exist_ok=True)
            Image.fromarray(grid).save(os.path.join(workdir, "samples", f"step_{step:08d}.png"))
            writer.add_image("samples/reference|masked|rendered|target", grid, step, dataformats="HWC")

    return sample
