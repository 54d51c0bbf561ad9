"""Workdirs: their layout, paths that are URLs, and resumes that cannot fit the saved state."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import load_config
from diffdub_jax import workdir as checkpoints
from diffdub_jax.data.framing import Framing
from diffdub_jax.training.state import create_state, make_optimizer
from diffdub_jax.workdir import Workdir


def test_url_workdirs_keep_their_scheme_and_local_ones_become_absolute(tmp_path, monkeypatch):
    assert str(Workdir("gs://bucket/runs/renderer").checkpoints) == "gs://bucket/runs/renderer/checkpoints"
    assert Workdir("gs://bucket/runs/renderer").tensorboard == "gs://bucket/runs/renderer/tensorboard"
    monkeypatch.chdir(tmp_path)
    assert str(Workdir("runs/renderer").checkpoints) == str(tmp_path / "runs" / "renderer" / "checkpoints")


def test_saved_variables_come_back_with_their_config_and_framing(tmp_path):
    config = load_config("renderer", "synthetic")
    variables = {"params": {"w": np.arange(6, dtype=np.float32).reshape(3, 2)},
                 "batch_stats": {"mean": np.ones(2, np.float32)}}
    Workdir(tmp_path / "run").save_variables(variables, config)
    restored = Workdir(tmp_path / "run").restore_variables()
    np.testing.assert_array_equal(restored["params"]["w"], variables["params"]["w"])
    np.testing.assert_array_equal(restored["batch_stats"]["mean"], variables["batch_stats"]["mean"])
    assert Framing.from_config(Workdir(tmp_path / "run").restore_config().data) == Framing(image_size=64, crop_scale=2.0, mask_window=12,
                                                          mask_dilation=8.0)
    with pytest.raises(checkpoints.CheckpointMismatchError, match="holds a 'renderer' checkpoint, expected 'motion'"):
        Workdir(tmp_path / "run").inference_config("motion")
    with pytest.raises(FileNotFoundError, match="no checkpoint found"):
        Workdir(tmp_path / "empty").inference_config("renderer")


def test_framing_of_a_checkpoint_from_before_the_fields_is_the_release_s():
    config = load_config("renderer", "tiny")
    for field in ("crop_scale", "mask_window", "mask_dilation"):
        del config.data[field]
    assert Framing.from_config(config.data) == Framing(image_size=32, crop_scale=1.6, mask_window=0,
                                                       mask_dilation=8.0)


def test_resuming_with_another_optimizer_names_the_changed_setting(tmp_path):
    config = load_config("motion", "tiny")
    params = {"w": jnp.ones((3, 2)), "b": jnp.zeros((2,))}
    run = Workdir(tmp_path).train_checkpoints(async_save=False)
    run.save(1, create_state(params, make_optimizer(config.train)), {"position": 1}, config)
    run.wait()

    changed = config.copy_and_resolve_references()
    changed.train.lr_schedule = "cosine"  # a schedule is a different optimizer-state tree
    state = create_state(params, make_optimizer(changed.train))
    with pytest.raises(checkpoints.CheckpointMismatchError,
                       match=r"checkpoints/1 does not fit .* train\.lr_schedule: 'constant' -> 'cosine'"):
        run.restore(1, jax.eval_shape(lambda s: s, state), changed)
    wider = {"w": jnp.ones((3, 4)), "b": jnp.zeros((4,))}  # another model: refused before Orbax reads an array
    with pytest.raises(checkpoints.CheckpointMismatchError, match="its arrays have other shapes"):
        run.restore(1, jax.eval_shape(lambda s: s, create_state(wider, make_optimizer(config.train))), config)
    restored, data_state = run.restore(1, jax.eval_shape(lambda s: s, create_state(params, make_optimizer(config.train))),
                                       config)
    assert data_state == {"position": 1} and int(restored.step) == 0
    run.close()


def test_config_changes_lists_only_what_differs():
    config = load_config("motion", "tiny")
    changed = config.copy_and_resolve_references()
    changed.train.learning_rate = 5.0
    assert checkpoints.config_changes(config, config) == []
    assert checkpoints.config_changes(config, changed) == [f"train.learning_rate: {config.train.learning_rate!r} -> 5.0"]


def test_resuming_on_another_version_of_the_dataset_is_refused(tmp_path):
    config = load_config("motion", "tiny")
    config.data.dataset_version = "1.0.0"
    params = {"w": jnp.ones((3, 2))}
    state = create_state(params, make_optimizer(config.train))
    run = Workdir(tmp_path).train_checkpoints(async_save=False)
    run.save(1, state, {"position": 1}, config)
    run.wait()

    newer = config.copy_and_resolve_references()
    newer.data.dataset_version = "1.1.0"
    with pytest.raises(checkpoints.CheckpointMismatchError,
                       match=r"trained on synthetic_talking_faces/small 1\.0\.0, but this run reads "
                             r"synthetic_talking_faces/small 1\.1\.0"):
        run.restore(1, jax.eval_shape(lambda s: s, state), newer)
    assert run.restore(1, jax.eval_shape(lambda s: s, state), config)[1] == {"position": 1}
    run.close()


def test_variables_written_on_another_platform_restore_on_this_one(tmp_path):
    """Weights converted on a CPU and used on a GPU (or the reverse): the checkpoint records the
    devices it was written from, which do not exist here. Seen on an H200 with orbax 0.12.4."""
    params = {"conv": {"kernel": jnp.arange(12.0).reshape(3, 4)}, "scale": jnp.ones((5,))}
    run = Workdir(tmp_path / "run")
    run.save_variables({"params": params}, load_config("renderer", "tiny"))
    (sharding_file,) = (tmp_path / "run").rglob("state/_sharding")
    sharding_file.write_text(sharding_file.read_text().replace("cpu:0", "cuda:0"))  # as a GPU writes it

    restored = Workdir(tmp_path / "run").restore_variables()["params"]
    np.testing.assert_array_equal(restored["conv"]["kernel"], params["conv"]["kernel"])
    np.testing.assert_array_equal(restored["scale"], params["scale"])
    assert restored["scale"].sharding.device_set == {jax.local_devices()[0]}
