"""The training loop every stage shares: mesh, per-host data shard, sharded initialisation, jitted
step, Orbax resume, TensorBoard, progress bar, non-finite-loss stop.

The same code runs on one CPU, on N fake CPU devices and on TPU/GPU pods: the batch is split over
the mesh's 'data' axis and each process reads its own shard of the clips. Parameters are created
already sharded (jit with out_shardings, so FSDP holds only its shard from the start), and a
resumed run restores into the sharded shapes without initialising first. Checkpoints hold the
model state, the data-iterator position and the config, so a restarted job continues exactly
where it stopped. A non-finite loss stops the run before anything non-finite is saved.

What differs by stage (model, initialiser, step, input stream, sampler) comes from a `Task`
(training.task), a stage's module. Evaluators (evaluation.evaluators, built from config.evals by
`train`) run on schedule with the EMA variables; every process runs them on its own devices (a
collective would time out waiting for one host's evaluation), process 0 logs their scores to
TensorBoard and keeps their files under workdir/evals/NAME/step_N.
"""

from __future__ import annotations

import tempfile
import time
from typing import Any, Callable, Protocol, Sequence

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from etils import epath
from jax.experimental import multihost_utils
from tensorboardX import SummaryWriter
from tqdm import tqdm

from diffdub_jax.errors import InvalidInputError
from diffdub_jax import distributed, parallel
from diffdub_jax.data import datasets
from diffdub_jax.training.state import TrainState, create_state, learning_rate_schedule, make_optimizer
from diffdub_jax.training.task import Task
from diffdub_jax.workdir import Workdir


class NonFiniteLossError(FloatingPointError):
    """Raised when the loss is NaN/inf; the last good checkpoint is kept."""


class Evaluator(Protocol):
    """What the loop runs every `every` steps (evaluation.evaluators.Evaluator is one)."""

    name: str
    every: int
    run: Callable[[dict, str], dict]  # (inference variables, output folder) -> scores


def host_variables(state: TrainState) -> dict:
    """The EMA variables as `Workdir.restore_variables` gives them, whole on every process (gathered
    when they are sharded over several processes' devices)."""
    variables = {"params": state.ema_params, "batch_stats": state.batch_stats}
    return multihost_utils.process_allgather(variables, tiled=True) if jax.process_count() > 1 else variables


def run_evaluators(evaluators: Sequence[Evaluator], state: TrainState, step: int, workdir: Workdir,
                   writer: SummaryWriter | None) -> None:
    """Runs the evaluators due at step; process 0 logs their numeric scores and copies the files
    they wrote (not their subfolders: dubbing's videos) to workdir/evals/NAME/step_N."""
    variables = None
    for evaluator in evaluators:
        variables = variables or host_variables(state)
        with tempfile.TemporaryDirectory() as output_dir:
            scores = evaluator.run(variables, output_dir)
            if writer is None:
                continue
            for key, value in _numbers(scores):
                writer.add_scalar(f"eval/{evaluator.name}/{key}", value, step)
            destination = workdir.path / "evals" / evaluator.name / f"step_{step:08d}"
            destination.mkdir(parents=True, exist_ok=True)
            for file in epath.Path(output_dir).iterdir():
                if file.is_file():
                    file.copy(destination / file.name, overwrite=True)


def _numbers(scores: dict, prefix: str = ""):
    """(dotted key, value) for every number in a nested result."""
    for key, value in scores.items():
        if isinstance(value, dict):
            yield from _numbers(value, f"{prefix}{key}/")
        elif isinstance(value, (int, float, np.number)) and not isinstance(value, bool):
            yield f"{prefix}{key}", float(value)


def copy_matching(variables: Any, pretrained: Any) -> Any:
    """variables with every leaf that pretrained has at the same path and shape replaced by it
    (diffae's 3-channel input conv, for one, does not match DiffDub's 6 channels and stays fresh)."""
    loaded = {jax.tree_util.keystr(path): value for path, value in jax.tree_util.tree_flatten_with_path(pretrained)[0]}
    leaves = []
    for path, value in jax.tree_util.tree_flatten_with_path(variables)[0]:
        source = loaded.get(jax.tree_util.keystr(path))
        leaves.append(jnp.asarray(source, value.dtype) if source is not None and source.shape == value.shape else value)
    return jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(variables), leaves)


def _with_pretrained(state: TrainState, init_from: str, shardings: Any) -> TrainState:
    """A fresh state whose params (and EMA) and BatchNorm statistics come from init_from's workdir
    where shapes match; the optimizer state stays fresh."""
    loaded = Workdir(init_from).restore_variables()
    params = copy_matching(state.params, loaded["params"])
    state = state.replace(params=params, ema_params=params,
                          batch_stats=copy_matching(state.batch_stats, loaded["batch_stats"]))
    return jax.device_put(state, shardings)


def state_layout(stage: Task, model, config: ml_collections.ConfigDict, optimizer, mesh):
    """(initial_state, its abstract shapes, their shardings): jit(initial_state, out_shardings=
    shardings)() creates each device's part where it lives, so with FSDP no host ever holds the
    whole state, and a resume restores into the shapes without initialising first."""

    def initial_state() -> TrainState:
        variables = stage.init_variables(model, config, jax.random.key(config.seed))
        return create_state(variables["params"], optimizer, variables.get("batch_stats"))

    abstract_state = jax.eval_shape(initial_state)
    return initial_state, abstract_state, parallel.parameter_sharding(abstract_state, mesh, config.train.fsdp)


# XLA options for a program that runs once (the initial state): on a CPU, without LLVM's
# optimisations it compiles in half the time (synthetic renderer on 2 cores: 4.4 s, not 9.2 s;
# its values agree to 1 ulp). Accelerators compile it as usual.
_RUN_ONCE_OPTIONS = {"cpu": {"xla_backend_optimization_level": 0}}


def _compiled_on_every_process(step_fn, state, batch, rng):
    """The step compiled ahead, returned once every process has compiled it. Hosts restore and
    compile at different speeds (a cache hit on one, a cold compile on another), and a collective
    waits only so long for its peers to set up (gloo's CPU collectives: 30 s); the coordinator's
    barrier waits as long as a compile takes."""
    compiled = step_fn.lower(state, batch, rng).compile()
    distributed.wait_for_all_processes("diffdub_first_train_step")
    return compiled


def run_stage(stage: Task, config: ml_collections.ConfigDict, workdir: str, *,
              evaluators: Sequence[Evaluator] = (), stop_after: int | None = None) -> TrainState:
    """Trains (or resumes) `stage` in workdir, running each evaluator every `every` steps and at
    the end. stop_after ends the run early at that step, as a preemption would (used by the resume
    test)."""
    stage.check(config)
    mesh = parallel.make_mesh()
    process, processes = jax.process_index(), jax.process_count()
    if config.data.batch_size % (mesh.size) != 0:
        raise InvalidInputError(f"data.batch_size {config.data.batch_size} must be a multiple of the "
                         f"{mesh.size} devices")
    host_config = config.copy_and_resolve_references()
    host_config.data.batch_size = config.data.batch_size // processes
    iterator = iter(stage.input_stream(host_config, "train", process, processes))
    config = config.copy_and_resolve_references()  # + the data's version, saved with each checkpoint
    with config.unlocked():
        config.data.dataset_version = datasets.dataset_version(config.data.name, config.data.data_dir)

    model = stage.build_model(config)
    optimizer = make_optimizer(config.train)
    initial_state, abstract_state, state_sharding = state_layout(stage, model, config, optimizer, mesh)
    workdir = Workdir(workdir)
    run = workdir.train_checkpoints(keep=config.train.keep_checkpoints)
    latest = run.latest_step()
    if latest is not None:
        target = jax.tree_util.tree_map(lambda leaf, sharding: jax.ShapeDtypeStruct(leaf.shape, leaf.dtype,
                                                                                    sharding=sharding),
                                        abstract_state, state_sharding)
        state, data_state = run.restore(latest, target, config)
        iterator.set_state(data_state)
    else:
        state = jax.jit(initial_state, out_shardings=state_sharding).lower().compile(
            compiler_options=_RUN_ONCE_OPTIONS.get(jax.default_backend(), {}))()
        if config.train.get("init_from"):
            state = _with_pretrained(state, config.train.init_from, state_sharding)

    step_fn = jax.jit(stage.make_train_step(model, config, optimizer),
                      in_shardings=(state_sharding, parallel.batch_sharding(mesh), parallel.replicated(mesh)),
                      out_shardings=(state_sharding, parallel.replicated(mesh)), donate_argnums=(0,))
    rng = jax.random.key(config.seed + 1)

    writer = SummaryWriter(workdir.tensorboard) if process == 0 else None
    sampler = stage.make_sampler(config, workdir, writer)
    sample_every = config.train.get("sample_every", 0)
    learning_rate = learning_rate_schedule(config.train)  # for logging; the optimizer holds its own
    last_step = config.train.num_steps if stop_after is None else min(stop_after, config.train.num_steps)
    start = int(state.step)
    progress = tqdm(range(start, last_step), initial=start, total=last_step, desc=stage.name, disable=process != 0)
    tick, tick_step = time.time(), start
    for step in progress:
        batch = parallel.shard_batch(stage.model_inputs(next(iterator)), mesh)
        if step == start and processes > 1:
            step_fn = _compiled_on_every_process(step_fn, state, batch, rng)
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
        due = [evaluator for evaluator in evaluators if evaluator.every and
               (done % evaluator.every == 0 or done == config.train.num_steps)]
        if due:
            run_evaluators(due, state, done, workdir, writer)
    run.wait()
    run.close()
    if writer:
        writer.close()
    return state
