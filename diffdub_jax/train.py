"""Trains a stage from a config, resuming from the workdir if it holds checkpoints.

    python -m diffdub_jax.train --config=configs/renderer.py:synthetic --workdir=runs/renderer
"""

import sys

import jax
from absl import flags
from ml_collections import config_flags

from diffdub_jax import cli, stages
from diffdub_jax.workdir import CheckpointMismatchError

_CONFIG = config_flags.DEFINE_config_file("config", None, "Stage config file[:preset].")
_WORKDIR = flags.DEFINE_string("workdir", None, "Run directory (local or gs://): checkpoints, TensorBoard, samples.")
_MULTIHOST = flags.DEFINE_bool("multihost", False, "Call jax.distributed.initialize() (TPU pods, multi-node GPU).")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
    del argv
    if _MULTIHOST.value:
        jax.distributed.initialize()
    try:
        stages.train(_CONFIG.value, _WORKDIR.value)
    except (CheckpointMismatchError, FileNotFoundError, ValueError) as error:
        sys.exit(f"train: {error}")


if __name__ == "__main__":
    cli.run(main)
