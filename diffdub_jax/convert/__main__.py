"""Converts official PyTorch checkpoints into workdirs that `train` and `infer` read.

    python -m diffdub_jax.convert --checkpoint=stage1.ckpt --output=runs/official_stage1
    python -m diffdub_jax.convert --checkpoint=diffae_ffhq256/last.ckpt --output=runs/diffae_ffhq256
    python -m diffdub_jax.convert --checkpoint=stage2.ckpt --output=runs/official_stage2

The stage is recognised from the keys; the architecture is what the file describes (a Lightning
stage-1 file's hyper_parameters, and the tensor shapes), on the release's config
(diffdub_jax.release) for whatever the file leaves out. --config overrides it.
"""

from absl import flags
from ml_collections import config_flags

from diffdub_jax import cli
from diffdub_jax.convert.release_checkpoint import convert_release_checkpoint

_CHECKPOINT = flags.DEFINE_string("checkpoint", None, "PyTorch/Lightning checkpoint file.")
_OUTPUT = flags.DEFINE_string("output", None, "Output workdir (local or gs://).")
_WEIGHTS = flags.DEFINE_enum("weights", None, ["ema_model", "model"],
                             "Which weights to take (default: ema_model for stage 1, model for stage 2).")
_CONFIG = config_flags.DEFINE_config_file("config", None, "Config the checkpoint matches (default: the release's).")
flags.mark_flags_as_required(["checkpoint", "output"])


def main(argv):
    del argv
    stage, config = convert_release_checkpoint(_CHECKPOINT.value, _OUTPUT.value, _WEIGHTS.value, _CONFIG.value)
    size = f", {config.data.image_size} px" if stage == "renderer" else ""
    print(f"wrote {_OUTPUT.value}: {stage} checkpoint "
          f"({config.model.get('embed_channels') or config.model.latent_dim}-d latents{size})")


if __name__ == "__main__":
    cli.run(main)
