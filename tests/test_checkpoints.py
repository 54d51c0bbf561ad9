"""Run checkpoints: a resume that cannot fit the saved state says which settings changed."""

import sys

import jax.numpy as jnp
import pytest

from diffdub_jax import checkpoints
from diffdub_jax.training.state import create_state, make_optimizer

sys.path.insert(0, "configs")
import motion as motion_config  # noqa: E402


def test_resuming_with_another_optimizer_names_the_changed_setting(tmp_path):
    config = motion_config.get_config("tiny")
    params = {"w": jnp.ones((3, 2)), "b": jnp.zeros((2,))}
    run = checkpoints.RunCheckpoints(str(tmp_path), async_save=False)
    run.save(1, create_state(params, make_optimizer(config.train)), {"position": 1}, config)
    run.wait()

    changed = config.copy_and_resolve_references()
    changed.train.lr_schedule = "cosine"  # a schedule is a different optimizer-state tree
    state = create_state(params, make_optimizer(changed.train))
    with pytest.raises(checkpoints.CheckpointMismatchError,
                       match=r"checkpoints/1 does not fit .* train\.lr_schedule: 'constant' -> 'cosine'"):
        run.restore(1, checkpoints.abstract_like(state), changed)
    restored, data_state = run.restore(1, checkpoints.abstract_like(create_state(params, make_optimizer(config.train))),
                                       config)
    assert data_state == {"position": 1} and int(restored.step) == 0
    run.close()


def test_config_changes_lists_only_what_differs():
    config = motion_config.get_config("tiny")
    changed = config.copy_and_resolve_references()
    changed.train.learning_rate = 5.0
    assert checkpoints.config_changes(config, config) == []
    assert checkpoints.config_changes(config, changed) == [f"train.learning_rate: {config.train.learning_rate!r} -> 5.0"]


def test_resuming_on_another_version_of_the_dataset_is_refused(tmp_path):
    config = motion_config.get_config("tiny")
    config.data.dataset_version = "1.0.0"
    params = {"w": jnp.ones((3, 2))}
    state = create_state(params, make_optimizer(config.train))
    run = checkpoints.RunCheckpoints(str(tmp_path), async_save=False)
    run.save(1, state, {"position": 1}, config)
    run.wait()

    newer = config.copy_and_resolve_references()
    newer.data.dataset_version = "1.1.0"
    with pytest.raises(checkpoints.CheckpointMismatchError,
                       match=r"trained on synthetic_talking_faces/small 1\.0\.0, but this run reads "
                             r"synthetic_talking_faces/small 1\.1\.0"):
        run.restore(1, checkpoints.abstract_like(state), newer)
    assert run.restore(1, checkpoints.abstract_like(state), config)[1] == {"position": 1}
    run.close()
