"""Trains a stage from a config, resuming from the workdir if it holds checkpoints.

    python -m diffdub_jax.train --config=configs/renderer.py:synthetic --workdir=runs/renderer

Multi-host (every machine runs the same command): `--multihost` on Cloud TPU, SLURM or Open MPI,
else `--coordinator_address=HOST0:1234 --num_processes=N --process_id=I` (see launch/README.md).
"""

import sys

from absl import flags
from ml_collections import config_flags

from diffdub_jax import cli, distributed, stages
from diffdub_jax.workdir import CheckpointMismatchError

_CONFIG = config_flags.DEFINE_config_file("config", None, "Stage config file[:preset].")
_WORKDIR = flags.DEFINE_string("workdir", None, "Run directory (local or gs://): checkpoints, TensorBoard, samples.")
_JOIN = distributed.define_flags()
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
    del argv
    try:
        _JOIN()
    except ValueError as error:
        sys.exit(f"train: {error}")
    try:
        stages.train(_CONFIG.value, _WORKDIR.value)
    except (CheckpointMismatchError, FileNotFoundError, ValueError) as error:
        sys.exit(f"train: {error}")


if __name__ == "__main__":
    cli.run(main)
