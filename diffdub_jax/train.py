"""Trains a stage from a config, resuming from the workdir if it holds checkpoints.

    python -m diffdub_jax.train --config=configs/renderer.py:synthetic --workdir=runs/renderer
"""

import jax
from absl import app, flags
from ml_collections import config_flags

from diffdub_jax.training import loop, motion_loop

_CONFIG = config_flags.DEFINE_config_file("config", None, "Stage config file[:preset].")
_WORKDIR = flags.DEFINE_string("workdir", None, "Run directory: checkpoints, TensorBoard, samples.")
_MULTIHOST = flags.DEFINE_bool("multihost", False, "Call jax.distributed.initialize() (TPU pods, multi-node GPU).")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
    del argv
    if _MULTIHOST.value:
        jax.distributed.initialize()
    config = _CONFIG.value
    trainers = {"renderer": loop.train_renderer, "motion": motion_loop.train_motion}
    if config.stage not in trainers:
        raise app.UsageError(f"unknown training stage {config.stage!r}; expected one of {sorted(trainers)}")
    trainers[config.stage](config, _WORKDIR.value)


if __name__ == "__main__":
    app.run(main)
