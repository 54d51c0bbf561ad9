"""Configs load through absl config_flags with presets and field overrides."""

import pytest
from absl import flags
from ml_collections import config_flags


def _parse(*argv):
    argv = ["prog", *argv]
    values = flags.FlagValues()
    config_flags.DEFINE_config_file("config", None, flag_values=values, sys_argv=argv)
    values(argv)
    return values.config


@pytest.mark.parametrize("path", ["configs/renderer.py", "configs/motion.py"])
def test_presets_and_overrides(path):
    real = _parse(f"--config={path}")
    assert real.preset == "real" and real.data.name == "hdtf"
    synthetic = _parse(f"--config={path}:synthetic")
    assert synthetic.data.name == "synthetic_talking_faces/64px"
    tiny = _parse(f"--config={path}:tiny", "--config.data.batch_size=3", "--config.seed=9")
    assert tiny.data.name == "synthetic_talking_faces/small"
    assert tiny.data.batch_size == 3 and tiny.seed == 9


def test_release_numbers_in_the_real_presets():
    motion = _parse("--config=configs/motion.py")
    assert motion.data.window_frames == 250 and motion.data.num_reference_frames == 75
    renderer = _parse("--config=configs/renderer.py")
    assert renderer.data.image_size == 256 and renderer.diffusion.prediction == "epsilon"
    assert renderer.diffusion.loss_weighting == "uniform" and motion.train.lr_schedule == "constant"


def test_unknown_preset_is_refused():
    with pytest.raises(Exception, match="unknown preset 'huge'"):
        _parse("--config=configs/renderer.py:huge")


def test_cosine_schedule_decays_to_a_tenth_and_the_optimizer_follows_it():
    import jax.numpy as jnp  # pylint: disable=import-outside-toplevel
    from diffdub_jax.training.state import learning_rate_schedule, make_optimizer  # pylint: disable=import-outside-toplevel

    train = _parse("--config=configs/motion.py:synthetic").train
    schedule = learning_rate_schedule(train)
    assert float(schedule(0)) == pytest.approx(train.learning_rate)
    assert learning_rate_schedule(_parse("--config=configs/motion.py").train) == 1e-4  # constant: optimizer state
    assert float(schedule(train.num_steps)) == pytest.approx(0.1 * train.learning_rate)
    assert float(schedule(train.num_steps // 2)) == pytest.approx(0.55 * train.learning_rate)
    optimizer = make_optimizer(train)
    params = {"w": jnp.ones(3)}
    state = optimizer.init(params)
    for _ in range(train.num_steps // 2):
        _, state = optimizer.update({"w": jnp.ones(3)}, state, params)
    assert float(state[1].hyperparams["learning_rate"]) == pytest.approx(0.55 * train.learning_rate, rel=1e-2)
    train.lr_schedule = "step"
    with pytest.raises(ValueError, match="unknown lr_schedule"):
        learning_rate_schedule(train)
