"""Builds a TFDS dataset of the project (array_record, no TensorFlow needed).

    python -m diffdub_jax.prepare_data --dataset=synthetic_talking_faces/64px --data_dir=data/tfds
    python -m diffdub_jax.prepare_data --dataset=hdtf --manual_dir=~/HDTF --data_dir=data/tfds
    python -m diffdub_jax.prepare_data --dataset=hdtf --manual_dir=... --beam \\
        --beam_options=--runner=DataflowRunner,--project=P,--region=R,--temp_location=gs://B/tmp

Without --beam the clips are built on every local core; with it, on Apache Beam (DirectRunner by
default; any runner by its pipeline options). HDTF ends with its build summary: the clips built
per split and the ones skipped, with reasons (also in build_summary.json next to the dataset).
"""

import os

from absl import flags

from diffdub_jax import cli
from diffdub_jax.data import datasets

_DATASET = flags.DEFINE_string("dataset", "synthetic_talking_faces/64px", "TFDS name/config to build.")
_DATA_DIR = flags.DEFINE_string("data_dir", datasets.DEFAULT_DATA_DIR, "TFDS data directory.")
_MANUAL_DIR = flags.DEFINE_string("manual_dir", None, "What you downloaded (HDTF: metadata and videos, or cut clips).")
_BEAM = flags.DEFINE_bool("beam", False, "Build on Apache Beam (pip install -e '.[beam]').")
_BEAM_OPTIONS = flags.DEFINE_list("beam_options", [], "Beam pipeline options, e.g. --direct_num_workers=8.")


def main(argv):
    del argv
    manual_dir = os.path.expanduser(_MANUAL_DIR.value) if _MANUAL_DIR.value else None
    builder = datasets.prepare(_DATASET.value, _DATA_DIR.value, manual_dir=manual_dir,
                               beam_args=_BEAM_OPTIONS.value if _BEAM.value else None)
    for split, info in builder.info.splits.items():
        print(f"{_DATASET.value} {split}: {info.num_examples} records in {builder.data_dir}")
    summary = datasets.build_summary(_DATASET.value, _DATA_DIR.value)
    if summary:
        for split, names in summary["built"].items():
            print(f"{split}: {len(names)} clips built")
        for entry in summary["skipped"]:
            print(f"skipped {entry['clip']}: {entry['reason']}")


if __name__ == "__main__":
    cli.run(main)
