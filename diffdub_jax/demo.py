"""The main job on the embedded default: `make demo` runs it.

    python -m diffdub_jax.demo --workdir=demo_out
    python -m diffdub_jax.demo --workdir=/tmp/quick --renderer_config=configs/renderer.py:tiny \
        --renderer_config.train.num_steps=4 --motion_config=configs/motion.py:tiny --dataset=synthetic_talking_faces/small

Builds the synthetic talking-faces set, writes a contact sheet of held-out clips, trains the
stage-1 renderer and the stage-2 motion generator (`synthetic` presets) and dubs a held-out
identity's clip with another clip's audio. Results go to --workdir: summary.json,
contact_sheet.png, reconstructions.png, dubbed.mp4, side_by_side.mp4, dub_strip.png and
lipsync.json (the dub's lip sync against the new audio, next to the untouched source's, for the
showcase and for --dub_pairs held-out pairs in all, with their mean difference and its standard error)
and held_out_reconstruction_scores.json (PSNR, SSIM and LMD of --dub_pairs held-out clips dubbed with
their own audio).
"""

import json

from absl import flags
from ml_collections import config_flags

from diffdub_jax import cli, showcase

_WORKDIR = flags.DEFINE_string("workdir", "demo_out", "Where the demo writes its outputs.")
_RENDERER = config_flags.DEFINE_config_file("renderer_config", "configs/renderer.py:synthetic",
                                            "Stage-1 config file[:preset] to train (its dataset is the demo's).")
_MOTION = config_flags.DEFINE_config_file("motion_config", "configs/motion.py:synthetic",
                                          "Stage-2 config file[:preset] to train.")
_DATASET = flags.DEFINE_string("dataset", None, "TFDS name/config (default: the renderer config's data.name).")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "TFDS data directory (default: the renderer config's).")
_DUB_PAIRS = flags.DEFINE_integer("dub_pairs", 4, "Held-out (source, audio) pairs dubbed and scored; the first "
                                  "is the showcase.")


def main(argv):
    del argv
    renderer_config = _RENDERER.value
    renderer_config.data.name = _DATASET.value or renderer_config.data.name
    renderer_config.data.data_dir = _DATA_DIR.value or renderer_config.data.data_dir
    summary = showcase.run_demo(_WORKDIR.value, renderer_config, _MOTION.value, _DUB_PAIRS.value)
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    cli.run(main)
