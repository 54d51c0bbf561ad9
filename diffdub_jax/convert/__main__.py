"""Converts official PyTorch checkpoints into Orbax workdirs that `train` and `infer` read.

    python -m diffdub_jax.convert --checkpoint=stage1.ckpt --output=runs/official_stage1
    python -m diffdub_jax.convert --checkpoint=diffae_ffhq256/last.ckpt --output=runs/diffae_ffhq256
"""

import sys

from absl import app, flags
from ml_collections import config_flags

from diffdub_jax.convert.renderer import convert_renderer_checkpoint

_CHECKPOINT = flags.DEFINE_string("checkpoint", None, "PyTorch/Lightning checkpoint file.")
_OUTPUT = flags.DEFINE_string("output", None, "Output workdir (an Orbax checkpoint is written there).")
_WEIGHTS = flags.DEFINE_enum("weights", "ema_model", ["ema_model", "model"], "Which weights to take.")
_CONFIG = config_flags.DEFINE_config_file("config", "configs/renderer.py", "Config the checkpoint matches.")
flags.mark_flags_as_required(["checkpoint", "output"])


def main(argv):
    del argv
    try:
        config = convert_renderer_checkpoint(_CHECKPOINT.value, _CONFIG.value, _OUTPUT.value, _WEIGHTS.value)
    except (FileNotFoundError, ValueError, ImportError) as error:
        sys.exit(f"convert: {error}")
    print(f"wrote {_OUTPUT.value} ({config.data.num_references} reference frame(s))")


if __name__ == "__main__":
    app.run(main)
