"""Converts official PyTorch checkpoints into Orbax workdirs that `train` and `infer` read.

    python -m diffdub_jax.convert --checkpoint=stage1.ckpt --output=runs/official_stage1
    python -m diffdub_jax.convert --checkpoint=diffae_ffhq256/last.ckpt --output=runs/diffae_ffhq256
    python -m diffdub_jax.convert --checkpoint=stage2.ckpt --output=runs/official_stage2

The stage is recognised from the keys (stage 2 keeps its tensors under `seq2seq.`); --config
defaults to that stage's config file (real preset).
"""

import os
import sys

from absl import app, flags
from ml_collections import config_flags

from diffdub_jax.convert import torch_state
from diffdub_jax.convert.motion import convert_motion_checkpoint
from diffdub_jax.convert.renderer import convert_renderer_checkpoint

_CHECKPOINT = flags.DEFINE_string("checkpoint", None, "PyTorch/Lightning checkpoint file.")
_OUTPUT = flags.DEFINE_string("output", None, "Output workdir (an Orbax checkpoint is written there).")
_WEIGHTS = flags.DEFINE_enum("weights", None, ["ema_model", "model"],
                             "Which weights to take (default: ema_model for stage 1, model for stage 2).")
_CONFIG = config_flags.DEFINE_config_file("config", None, "Config the checkpoint matches (default: its stage's).")
flags.mark_flags_as_required(["checkpoint", "output"])

CONFIG_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "configs")


def _default_config(stage: str):
    sys.path.insert(0, CONFIG_DIR)
    module = __import__(stage)
    return module.get_config("real")


def main(argv):
    del argv
    try:
        state_dict = torch_state.load_torch_checkpoint(_CHECKPOINT.value)
        stage2 = any(key.startswith(("seq2seq.", "model.seq2seq.")) for key in state_dict)
        if stage2:
            config = _CONFIG.value or _default_config("motion")
            config = convert_motion_checkpoint(_CHECKPOINT.value, config, _OUTPUT.value, _WEIGHTS.value or "model",
                                               state_dict=state_dict)
            print(f"wrote {_OUTPUT.value} (stage 2, {config.model.latent_dim}-d latents)")
        else:
            config = _CONFIG.value or _default_config("renderer")
            config = convert_renderer_checkpoint(_CHECKPOINT.value, config, _OUTPUT.value,
                                                 _WEIGHTS.value or "ema_model", state_dict=state_dict)
            print(f"wrote {_OUTPUT.value} ({config.data.num_references} reference frame(s))")
    except (FileNotFoundError, ValueError, ImportError) as error:
        sys.exit(f"convert: {error}")


if __name__ == "__main__":
    app.run(main)
