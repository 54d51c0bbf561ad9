"""Orbax checkpoints of a training run: model state, data-iterator position and config.

One manager per stage workdir (`<workdir>/checkpoints`), asynchronous saves, keep-N, and
`restore_latest` for automatic resumption after preemption.
"""

from __future__ import annotations

import os
from typing import Any

import jax
import ml_collections
import orbax.checkpoint as ocp


class CheckpointMismatchError(ValueError):
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


class RunCheckpoints:
    def __init__(self, workdir: str, keep: int = 3, async_save: bool = True):
        self.directory = os.path.abspath(os.path.join(workdir, "checkpoints"))
        self.manager = ocp.CheckpointManager(
            self.directory,
            options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True,
                                                 enable_async_checkpointing=async_save),
            item_names=("state", "data", "config"))

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
        path = os.path.join(self.directory, str(step))
        saved = ml_collections.ConfigDict(
            self.manager.restore(step, args=ocp.args.Composite(config=ocp.args.JsonRestore())).config)
        saved_version, version = saved.data.get("dataset_version"), config.data.get("dataset_version")
        if saved_version and version and saved_version != version:
            raise CheckpointMismatchError(
                f"checkpoint {path} was trained on {saved.data.name} {saved_version}, but this run reads "
                f"{config.data.name} {version}: train into a new workdir (or delete this one)")
        try:
            restored = self.manager.restore(step, args=ocp.args.Composite(
                state=ocp.args.StandardRestore(abstract_state), data=ocp.args.JsonRestore()))
        except ValueError as error:
            changed = config_changes(saved, config)
            raise CheckpointMismatchError(
                f"checkpoint {path} does not fit this run's model or optimizer; settings changed since it "
                f"was saved: {', '.join(changed) or 'none found'}. Resume with the config it was saved "
                f"with, or train into a new workdir (Orbax: {str(error).splitlines()[0]})") from error
        return restored.state, restored.data

    def wait(self) -> None:
        self.manager.wait_until_finished()

    def close(self) -> None:
        self.manager.close()


def abstract_like(tree: Any) -> Any:
    """ShapeDtypeStructs (with shardings) of a pytree of arrays: the restore target."""
    return jax.tree_util.tree_map(ocp.utils.to_shape_dtype_struct, tree)


def _restore_latest(workdir: str, item: str, args) -> Any:
    manager = ocp.CheckpointManager(os.path.abspath(os.path.join(workdir, "checkpoints")),
                                    item_names=("state", "data", "config"))
    try:
        step = manager.latest_step()
        if step is None:
            raise FileNotFoundError(f"{workdir}: no checkpoint found under {manager.directory}")
        return manager.restore(step, args=ocp.args.Composite(**{item: args}))[item]
    finally:
        manager.close()  # release its background threads; inference may restore several workdirs


def restore_variables(workdir: str, use_ema: bool = True) -> dict:
    """{'params': (EMA) parameters, 'batch_stats': BatchNorm statistics ({} if none)} of the
    latest checkpoint in a workdir, for inference or init_from."""
    state = _restore_latest(workdir, "state", ocp.args.StandardRestore())
    return {"params": state["ema_params" if use_ema else "params"], "batch_stats": state.get("batch_stats", {})}


def restore_params(workdir: str, use_ema: bool = True) -> Any:
    """The (EMA) parameters of the latest checkpoint in a workdir."""
    return restore_variables(workdir, use_ema)["params"]


def restore_config(workdir: str) -> ml_collections.ConfigDict:
    """The config the latest checkpoint of a workdir was saved with."""
    return ml_collections.ConfigDict(_restore_latest(workdir, "config", ocp.args.JsonRestore()))
