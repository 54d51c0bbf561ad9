"""Evaluates a trained stage on held-out data.

    python -m diffdub_jax.evaluate --config=configs/renderer.py:synthetic --workdir=runs/renderer
"""

import json

from absl import app, flags
from ml_collections import config_flags

from diffdub_jax.training import renderer_eval

_CONFIG = config_flags.DEFINE_config_file("config", None, "Stage config file[:preset].")
_WORKDIR = flags.DEFINE_string("workdir", None, "Run directory with checkpoints.")
_SPLIT = flags.DEFINE_string("split", "test", "Dataset split.")
_BATCHES = flags.DEFINE_integer("batches", 8, "Number of batches to render.")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
    del argv
    if _CONFIG.value.stage != "renderer":
        raise app.UsageError("only the renderer stage can be evaluated so far")
    result = renderer_eval.evaluate_reconstruction(_CONFIG.value, _WORKDIR.value, _SPLIT.value, _BATCHES.value)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    app.run(main)
