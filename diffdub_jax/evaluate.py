"""Evaluates a trained stage on held-out data.

    python -m diffdub_jax.evaluate --config=configs/renderer.py:synthetic --workdir=runs/renderer
    python -m diffdub_jax.evaluate --config=configs/motion.py:synthetic --workdir=runs/motion \
        --renderer_workdir=runs/renderer --config.data.latents_dir=runs/latents
"""

import json

from absl import app, flags
from ml_collections import config_flags

from diffdub_jax.training import motion_eval, renderer_eval

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
    if config.stage == "renderer":
        result = renderer_eval.evaluate_reconstruction(config, _WORKDIR.value, _SPLIT.value, _BATCHES.value)
    elif config.stage == "motion":
        if not _RENDERER.value:
            raise app.UsageError("--renderer_workdir is required to score lip sync from rendered pixels")
        result = motion_eval.evaluate_motion(config, _WORKDIR.value, _RENDERER.value, split=_SPLIT.value,
                                             num_clips=_CLIPS.value)
    else:
        raise app.UsageError(f"unknown stage {config.stage!r}")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    app.run(main)
