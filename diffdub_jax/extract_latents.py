"""Extracts stage-1 latents of every frame of a dataset for stage-2 training.

    python -m diffdub_jax.extract_latents --renderer_workdir=runs/renderer --output=runs/latents

Multi-host: train's --multihost, or --coordinator_address/--num_processes/--process_id on every
machine; each process encodes its share of the clips.
"""

from absl import flags

from diffdub_jax import cli, distributed
from diffdub_jax.training.latents import extract_latents

_RENDERER = flags.DEFINE_string("renderer_workdir", None, "Stage-1 workdir (its latest EMA params and config).")
_OUTPUT = flags.DEFINE_string("output", None, "Directory for the latents (resumes if partly written).")
_SPLITS = flags.DEFINE_list("splits", ["train", "test"], "Dataset splits to extract.")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "TFDS data dir (default: the renderer config's).")
_BATCH = flags.DEFINE_integer("batch_size", 64, "Frames per encoder batch.")
_JOIN = distributed.define_flags()
flags.mark_flags_as_required(["renderer_workdir", "output"])


def main(argv):
    del argv
    _JOIN()  # each process of a multi-host job encodes its share of the clips
    counts = extract_latents(_RENDERER.value, _OUTPUT.value, tuple(_SPLITS.value), data_dir=_DATA_DIR.value,
                             batch_size=_BATCH.value)
    print(f"wrote latents to {_OUTPUT.value}: {counts}")


if __name__ == "__main__":
    cli.run(main)
