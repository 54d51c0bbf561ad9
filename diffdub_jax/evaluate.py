"""Evaluates a trained stage on held-out data.

    python -m diffdub_jax.evaluate --config=configs/renderer.py:synthetic --workdir=runs/renderer
    python -m diffdub_jax.evaluate --config=configs/motion.py:synthetic --workdir=runs/motion \
        --renderer_workdir=runs/renderer --config.data.latents_dir=runs/latents
"""

import json
import sys

from absl import flags
from ml_collections import config_flags

from diffdub_jax import cli, stages
from diffdub_jax.workdir import CheckpointMismatchError

_CONFIG = config_flags.DEFINE_config_file("config", None, "Stage config file[:preset].")
_WORKDIR = flags.DEFINE_string("workdir", None, "Run directory with checkpoints.")
_SPLIT = flags.DEFINE_string("split", "test", "Dataset split.")
_BATCHES = flags.DEFINE_integer("batches", 8, "Renderer: number of batches to render.")
_RENDERER = flags.DEFINE_string("renderer_workdir", None, "Motion: the stage-1 workdir that renders its latents.")
_CLIPS = flags.DEFINE_integer("clips", 8, "Motion: number of held-out clips.")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
    del argv
    config = _CONFIG.value
    options = stages.EvalOptions(split=_SPLIT.value, batches=_BATCHES.value, clips=_CLIPS.value,
                                 renderer_workdir=_RENDERER.value)
    try:
        result = stages.get(config.stage).evaluate(config, _WORKDIR.value, options)
    except (CheckpointMismatchError, FileNotFoundError, ValueError) as error:
        sys.exit(f"evaluate: {error}")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    cli.run(main)
