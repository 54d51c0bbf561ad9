"""The main job on the embedded default: `make demo` runs it.

Builds the synthetic talking-faces set, writes a contact sheet of held-out clips, trains the
stage-1 renderer and the stage-2 motion generator (`synthetic` presets) and dubs a held-out
identity's clip with another clip's audio. Results go to --workdir: summary.json,
contact_sheet.png, reconstructions.png, dubbed.mp4, side_by_side.mp4, dub_strip.png and
lipsync.json (the dub's lip sync against the new audio, next to the untouched source's, for the
showcase and for --dub_pairs held-out pairs in all, with their mean difference and its standard error).
"""

import json

from absl import app, flags

from diffdub_jax import showcase
from diffdub_jax.data import datasets

_WORKDIR = flags.DEFINE_string("workdir", "demo_out", "Where the demo writes its outputs.")
_DATASET = flags.DEFINE_string("dataset", "synthetic_talking_faces/64px", "TFDS name/config.")
_DATA_DIR = flags.DEFINE_string("data_dir", datasets.DEFAULT_DATA_DIR, "TFDS data directory.")
_PRESET = flags.DEFINE_string("renderer_preset", "synthetic", "configs/renderer.py preset to train.")
_STEPS = flags.DEFINE_integer("renderer_steps", 0, "Stage-1 training steps (0: the preset's).")
_MOTION_PRESET = flags.DEFINE_string("motion_preset", "synthetic", "configs/motion.py preset to train.")
_MOTION_STEPS = flags.DEFINE_integer("motion_steps", 0, "Stage-2 training steps (0: the preset's).")
_DUB_PAIRS = flags.DEFINE_integer("dub_pairs", 4, "Held-out (source, audio) pairs dubbed and scored; the first "
                                  "is the showcase.")


def main(argv):
    del argv
    summary = showcase.run_demo(_WORKDIR.value, _DATASET.value, _DATA_DIR.value, _PRESET.value,
                                _STEPS.value, _MOTION_PRESET.value, _MOTION_STEPS.value, _DUB_PAIRS.value)
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    app.run(main)
