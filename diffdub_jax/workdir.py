"""A stage's workdir: the one place that knows its layout on disk.

    <workdir>/checkpoints/<step>/state    Orbax: step, params, ema_params, opt_state, batch_stats
    <workdir>/checkpoints/<step>/data     the data iterator's position (JSON)
    <workdir>/checkpoints/<step>/config   the run's config (JSON): model, framing, dataset version
    <workdir>/tensorboard/, <workdir>/samples/

Training saves through `Workdir.train_checkpoints()` (asynchronous, keep-N, resumed after
preemption); inference and `convert` read and write the variables through `restore_variables` and
`save_variables`. Paths go through etils.epath and Orbax, so a workdir may be local or anything
tensorstore opens (`gs://bucket/run` included); only local paths are made absolute.
"""

from __future__ import annotations

import os
from typing import Any

import jax
import ml_collections
import orbax.checkpoint as ocp
from etils import epath

from diffdub_jax.data.files import is_url
from diffdub_jax.errors import MissingFileError, UserError

ITEMS = ("state", "data", "config")


class CheckpointMismatchError(UserError, ValueError):
    """A checkpoint does not fit what it is loaded into: a run with another model or optimizer
    config or on another version of its dataset, the other stage, or a motion generator trained
    with another renderer."""


def config_changes(saved: ml_collections.ConfigDict, current: ml_collections.ConfigDict) -> list[str]:
    """'key: saved -> current' for every (dotted) setting that differs between two configs."""
    before, after = dict(_flatten(saved.to_dict())), dict(_flatten(current.to_dict()))
    return [f"{key}: {before.get(key, '(unset)')!r} -> {after.get(key, '(unset)')!r}"
            for key in sorted(before.keys() | after.keys())
            if _comparable(before.get(key)) != _comparable(after.get(key))]


def _flatten(tree: dict, prefix: str = ""):
    for key, value in tree.items():
        if isinstance(value, dict):
            yield from _flatten(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def _comparable(value: Any) -> Any:
    """JSON turns tuples into lists; compare them alike."""
    return list(value) if isinstance(value, tuple) else value


def as_path(path: str | os.PathLike) -> epath.Path:
    """An epath for a local path (made absolute) or a URL such as gs://bucket/run (kept as it is)."""
    text = os.fspath(path)
    return epath.Path(text if is_url(text) else os.path.abspath(text))


def _shapes(tree: Any) -> list[tuple[int, ...]]:
    """The sorted shapes of a tree's arrays (abstract, concrete or checkpoint metadata)."""
    return sorted(tuple(leaf.shape) for leaf in jax.tree_util.tree_leaves(tree) if hasattr(leaf, "shape"))


class RunCheckpoints:
    """The checkpoints of one training run (Orbax CheckpointManager over <workdir>/checkpoints)."""

    def __init__(self, directory: epath.Path, keep: int = 3, async_save: bool = True):
        self.directory = directory
        self.manager = ocp.CheckpointManager(
            directory,
            options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True,
                                                 enable_async_checkpointing=async_save),
            item_names=ITEMS)

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def save(self, step: int, state: Any, data_state: dict, config: ml_collections.ConfigDict) -> None:
        self.manager.save(step, args=ocp.args.Composite(
            state=ocp.args.StandardSave(state),
            data=ocp.args.JsonSave(data_state),
            config=ocp.args.JsonSave(config.to_dict())))

    def restore(self, step: int, abstract_state: Any, config: ml_collections.ConfigDict) -> tuple[Any, dict]:
        """(state, data-iterator state) at `step`; abstract_state gives shapes and shardings.

        CheckpointMismatchError when the checkpoint was trained on another version of the dataset
        (config.data.dataset_version) or its state does not fit abstract_state (the run's model or
        optimizer config changed; the message names the settings that differ from the config it
        was saved with, instead of Orbax's tree-structure error).
        """
        path = self.directory / str(step)
        saved = ml_collections.ConfigDict(
            self.manager.restore(step, args=ocp.args.Composite(config=ocp.args.JsonRestore())).config)
        saved_version, version = saved.data.get("dataset_version"), config.data.get("dataset_version")
        if saved_version and version and saved_version != version:
            raise CheckpointMismatchError(
                f"checkpoint {path} was trained on {saved.data.name} {saved_version}, but this run reads "
                f"{config.data.name} {version}: train into a new workdir (or delete this one)")
        def mismatch(reason: str) -> CheckpointMismatchError:
            changed = config_changes(saved, config)
            return CheckpointMismatchError(
                f"checkpoint {path} does not fit this run's model or optimizer; settings changed since it "
                f"was saved: {', '.join(changed) or 'none found'}. Resume with the config it was saved "
                f"with, or train into a new workdir ({reason})")

        # Shapes are compared from the metadata first: a restore that fails halfway leaves Orbax's
        # reader threads printing tracebacks after our message.
        saved_shapes = _shapes(ocp.StandardCheckpointHandler().metadata(path / "state"))
        if saved_shapes != _shapes(abstract_state):
            raise mismatch("its arrays have other shapes")
        try:
            restored = self.manager.restore(step, args=ocp.args.Composite(
                state=ocp.args.StandardRestore(abstract_state), data=ocp.args.JsonRestore()))
        except ValueError as error:
            raise mismatch(f"Orbax: {str(error).splitlines()[0]}") from error
        return restored.state, restored.data

    def wait(self) -> None:
        self.manager.wait_until_finished()

    def close(self) -> None:
        self.manager.close()


class Workdir:
    """A stage's run directory (see the module docstring for its layout)."""

    def __init__(self, path: str | os.PathLike):
        self.path = as_path(path)

    @property
    def checkpoints(self) -> epath.Path:
        return self.path / "checkpoints"

    @property
    def tensorboard(self) -> str:
        return str(self.path / "tensorboard")

    @property
    def samples(self) -> epath.Path:
        return self.path / "samples"

    def train_checkpoints(self, keep: int = 3, async_save: bool = True) -> RunCheckpoints:
        return RunCheckpoints(self.checkpoints, keep, async_save)

    def latest_step(self) -> int | None:
        """The step of the latest checkpoint (None without one): what a run's outputs came from."""
        manager = ocp.CheckpointManager(self.checkpoints, item_names=ITEMS)
        try:
            return manager.latest_step()
        finally:
            manager.close()

    def _restore_latest(self, item: str, args) -> Any:
        """item of the latest checkpoint, restored with args (or args(the item's metadata))."""
        manager = ocp.CheckpointManager(self.checkpoints, item_names=ITEMS)
        try:
            step = manager.latest_step()
            if step is None:
                raise MissingFileError(f"{self.path}: no checkpoint found under {self.checkpoints}")
            if callable(args):
                args = args(ocp.StandardCheckpointHandler().metadata(epath.Path(self.checkpoints) / str(step) / item))
            return manager.restore(step, args=ocp.args.Composite(**{item: args}))[item]
        finally:
            manager.close()  # release its background threads; inference may restore several workdirs

    def restore_config(self) -> ml_collections.ConfigDict:
        """The config the latest checkpoint was saved with."""
        return ml_collections.ConfigDict(self._restore_latest("config", ocp.args.JsonRestore()))

    def restore_variables(self, use_ema: bool = True) -> dict:
        """{'params': (EMA) parameters, 'batch_stats': BatchNorm statistics ({} if none)} of the
        latest checkpoint, for inference or init_from, on this process's first device: a checkpoint
        written on another platform (converted on a CPU, run on a GPU) restores too."""
        here = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])

        def on_this_device(metadata) -> ocp.args.StandardRestore:
            # every leaf whole on this process's device: a checkpoint written by several processes
            # would otherwise come back sharded over all of them, which one process cannot read
            return ocp.args.StandardRestore(jax.tree_util.tree_map(
                lambda leaf: jax.ShapeDtypeStruct(leaf.shape, leaf.dtype, sharding=here), metadata))

        state = self._restore_latest("state", on_this_device)
        return {"params": state["ema_params" if use_ema else "params"], "batch_stats": state.get("batch_stats", {})}

    def inference_config(self, stage: str) -> ml_collections.ConfigDict:
        """The config of a trained or converted `stage` ('renderer' | 'motion'), read without its
        variables (cheap: inference checks it before any work); CheckpointMismatchError when the
        workdir holds something else, FileNotFoundError when it holds no checkpoint."""
        try:
            config = self.restore_config()
        except FileNotFoundError:
            raise
        except Exception as error:  # Orbax raises many types for a directory that is not a checkpoint
            raise CheckpointMismatchError(f"{self.path}: not a readable {stage} checkpoint ({type(error).__name__}: "
                                          f"{str(error)[:200]})") from None
        if config.get("stage", stage) != stage:
            raise CheckpointMismatchError(f"{self.path} holds a {config.stage!r} checkpoint, expected {stage!r}")
        return config

    def save_variables(self, variables: dict, config: ml_collections.ConfigDict) -> None:
        """Writes inference variables ({'params'[, 'batch_stats']}) and their config as step 0, the
        layout `restore_variables` and `train --config.train.init_from` read (convert uses it)."""
        state = {"step": 0, "params": variables["params"], "ema_params": variables["params"]}
        if variables.get("batch_stats"):
            state["batch_stats"] = variables["batch_stats"]
        run = self.train_checkpoints(keep=1, async_save=False)
        run.save(0, state, {}, config)
        run.wait()
        run.close()
