"""The main job on the embedded default: `make demo` runs it.

Builds the synthetic talking-faces set, writes a contact sheet of held-out clips with their masks
and mouth states, trains the stage-1 renderer (`synthetic` preset) and renders held-out
identities; results go to --workdir (summary.json, contact_sheet.png, reconstructions.png).
"""

import json

from absl import app, flags

from diffdub_jax import showcase
from diffdub_jax.data import datasets

_WORKDIR = flags.DEFINE_string("workdir", "demo_out", "Where the demo writes its outputs.")
_DATASET = flags.DEFINE_string("dataset", "synthetic_talking_faces/64px", "TFDS name/config.")
_DATA_DIR = flags.DEFINE_string("data_dir", datasets.DEFAULT_DATA_DIR, "TFDS data directory.")
_PRESET = flags.DEFINE_string("renderer_preset", "synthetic", "configs/renderer.py preset to train.")
_STEPS = flags.DEFINE_integer("renderer_steps", 0, "Training steps (0: the preset's).")


def main(argv):
    del argv
    summary = showcase.run_demo(_WORKDIR.value, _DATASET.value, _DATA_DIR.value, _PRESET.value,
                                _STEPS.value)
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    app.run(main)
