"""Stage-1 training: overfitting, sharded equality, resume equality, NaN stop."""

import functools
import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffdub_jax.data import datasets
from diffdub_jax.diffusion import losses
from diffdub_jax.diffusion.schedule import Schedule
from diffdub_jax.models.renderer import renderer_from_config
from diffdub_jax.training import loop
from diffdub_jax.training import renderer as renderer_training
from diffdub_jax.training import tasks
from diffdub_jax.training.state import create_state, make_optimizer
from diffdub_jax.workdir import Workdir
from renderer_fixtures import init, random_batch, tiny_config


@pytest.mark.slow
def test_tiny_config_overfits_one_batch():
    config = tiny_config()
    model = renderer_from_config(config)
    schedule = Schedule.linear()
    optimizer = make_optimizer(config.train)
    state = create_state(init(model), optimizer)
    batch = random_batch(32, 2)  # two examples: the property is the same, each step half the cost
    step = jax.jit(functools.partial(renderer_training.train_step, model=model, schedule=schedule,
                                     optimizer=optimizer, ema_decay=0.9))

    @jax.jit
    def eval_loss(params):
        def one(key):
            return losses.masked_denoising_loss(
                lambda x_t, t: model.apply({"params": params}, x_t, batch["reference"], t, batch["encoder_crop"]),
                schedule, batch["image"], batch["edit_mask"], key)
        return jnp.mean(jax.vmap(one)(jax.random.split(jax.random.key(9), 16)))

    before = float(eval_loss(state.params))
    for _ in range(150):
        state, metrics = step(state, batch, jax.random.key(1))
    after = float(eval_loss(state.params))
    assert np.isfinite(after) and after < before / 10, (before, after)


@pytest.mark.slow
def test_a_step_on_8_devices_equals_the_single_device_step():
    # Compiling dominates here, so the subprocess trades LLVM optimisation for compile speed.
    env = dict(os.environ, JAX_PLATFORMS="cpu",
               XLA_FLAGS="--xla_force_host_platform_device_count=8 --xla_backend_optimization_level=0")
    tests_dir = os.path.dirname(__file__)
    env["PYTHONPATH"] = os.pathsep.join([tests_dir, os.path.dirname(tests_dir), env.get("PYTHONPATH", "")])
    result = subprocess.run([sys.executable, os.path.join(tests_dir, "sharded_step_check.py")],
                            capture_output=True, text=True, env=env, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    diffs = json.loads(result.stdout.strip().splitlines()[-1])
    assert diffs["replicated"] <= 1e-5 and diffs["fsdp"] <= 1e-5, diffs


def _train_config(data_dir):
    config = tiny_config(data_dir)
    config.train.num_steps = 6
    config.train.checkpoint_every = 3
    config.train.log_every = 3
    return config


@pytest.mark.slow
def test_kill_and_resume_matches_an_uninterrupted_run(small_data_dir, tmp_path):
    config = _train_config(small_data_dir)
    straight = tasks.train(config, str(tmp_path / "straight"))
    interrupted = str(tmp_path / "interrupted")
    tasks.train(config, interrupted, stop_after=3)
    assert Workdir(interrupted).train_checkpoints().latest_step() == 3
    assert Workdir(interrupted).restore_config().data.dataset_version == datasets.dataset_version(
        config.data.name, small_data_dir)  # what a later resume checks the data against
    resumed = tasks.train(config, interrupted)
    assert int(resumed.step) == 6
    for a, b in zip(jax.tree_util.tree_leaves(straight.params), jax.tree_util.tree_leaves(resumed.params)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    restored = Workdir(interrupted).restore_variables()["params"]
    for a, b in zip(jax.tree_util.tree_leaves(restored), jax.tree_util.tree_leaves(resumed.ema_params)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert os.listdir(os.path.join(interrupted, "tensorboard"))


@pytest.mark.slow
def test_a_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(small_data_dir, tmp_path):
    config = _train_config(small_data_dir)
    config.train.learning_rate = 1e38  # the first update overflows the parameters
    config.train.checkpoint_every = 1
    config.train.log_every = 1
    with pytest.raises(loop.NonFiniteLossError, match="last good checkpoint \\(step 1\\)"):
        tasks.train(config, str(tmp_path))
    params = Workdir(tmp_path).restore_variables()["params"]
    assert all(np.isfinite(np.asarray(x)).all() for x in jax.tree_util.tree_leaves(params))
