"""The main job on the embedded default: `make demo` runs it.

For now it builds the synthetic talking-faces set and writes a contact sheet of held-out clips
with their masks and mouth states, plus a summary; training and dubbing join as they land.
"""

import json
import time

from absl import app, flags

from diffdub_jax.data import datasets, report

_WORKDIR = flags.DEFINE_string("workdir", "demo_out", "Where the demo writes its outputs.")
_DATASET = flags.DEFINE_string("dataset", "synthetic_talking_faces/64px", "TFDS name/config.")
_DATA_DIR = flags.DEFINE_string("data_dir", datasets.DEFAULT_DATA_DIR, "TFDS data directory.")


def main(argv):
    del argv
    start = time.time()
    datasets.prepare(_DATASET.value, _DATA_DIR.value)
    built = time.time() - start
    summary = report.write_report(_DATASET.value, "test", _DATA_DIR.value, _WORKDIR.value)
    summary["prepare_seconds"] = round(built, 1)
    summary["total_seconds"] = round(time.time() - start, 1)
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    app.run(main)
