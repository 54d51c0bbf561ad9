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
    assert _parse("--config=configs/renderer.py").data.image_size == 256


def test_unknown_preset_is_refused():
    with pytest.raises(Exception, match="unknown preset 'huge'"):
        _parse("--config=configs/renderer.py:huge")
