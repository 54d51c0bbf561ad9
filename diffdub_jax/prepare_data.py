"""Builds a TFDS dataset of the project (array_record, no TensorFlow needed).

    python -m diffdub_jax.prepare_data --dataset=synthetic_talking_faces/64px --data_dir=data/tfds
"""

from absl import flags

from diffdub_jax import cli
from diffdub_jax.data import datasets

_DATASET = flags.DEFINE_string("dataset", "synthetic_talking_faces/64px", "TFDS name/config to build.")
_DATA_DIR = flags.DEFINE_string("data_dir", datasets.DEFAULT_DATA_DIR, "TFDS data directory.")


def main(argv):
    del argv
    builder = datasets.prepare(_DATASET.value, _DATA_DIR.value)
    for split, info in builder.info.splits.items():
        print(f"{_DATASET.value} {split}: {info.num_examples} clips in {builder.data_dir}")


if __name__ == "__main__":
    cli.run(main)
