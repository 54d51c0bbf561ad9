"""Trains a stage from a config, resuming from the workdir if it holds checkpoints.

    python -m diffdub_jax.train --config=configs/renderer.py:synthetic --workdir=runs/renderer

The evaluators config.evals schedules (every > 0) run during training; one that cannot serve the
config's dataset is refused before the first step.

Multi-host (every machine runs the same command): `--multihost` on Cloud TPU, SLURM or Open MPI,
else `--coordinator_address=HOST0:1234 --num_processes=N --process_id=I` (see launch/README.md).
"""

from absl import flags
from ml_collections import config_flags

from diffdub_jax import cli, distributed
from diffdub_jax.evaluation import evaluators
from diffdub_jax.training import tasks

_CONFIG = config_flags.DEFINE_config_file("config", None, "Stage config file[:preset].")
_WORKDIR = flags.DEFINE_string("workdir", None, "Run directory (local or gs://): checkpoints, TensorBoard, samples.")
_JOIN = distributed.define_flags()
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
    del argv
    _JOIN()
    config = _CONFIG.value
    evaluators.check(config, only_scheduled=True)  # what its dataset cannot serve, before anything loads
    tasks.get(config.stage).check(config)
    tasks.train(config, _WORKDIR.value, evaluators=evaluators.build(config, only_scheduled=True))


if __name__ == "__main__":
    cli.run(main)
