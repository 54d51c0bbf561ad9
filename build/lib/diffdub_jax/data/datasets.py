"""Building and opening the project's TFDS datasets without TensorFlow.

`tfds build` imports TensorFlow, so datasets are prepared through the builder classes here. Clips
are opened with `tfds.data_source` (random access over array_record files); frame images stay
PNG-encoded until a transform decodes the few frames it needs.
"""

from __future__ import annotations

import io
import os

import numpy as np
import tensorflow_datasets as tfds
from PIL import Image

import tfds_builders.synthetic_talking_faces  # noqa: F401  (registers the builder with TFDS)

DEFAULT_DATA_DIR = os.path.join("data", "tfds")


class _KeepEncoded(tfds.decode.Decoder):
    """Leaves a feature's bytes as they are stored (a numpy-mode SkipDecoding)."""

    def decode_example(self, serialized):
        return serialized

    def decode_example_np(self, serialized):
        return serialized

    def decode_batch_example_np(self, serialized):
        return serialized


def prepare(name: str, data_dir: str = DEFAULT_DATA_DIR) -> tfds.core.DatasetBuilder:
    """Builds dataset `name` ('synthetic_talking_faces/small', ...) once; later calls reuse it."""
    builder = tfds.builder(name, data_dir=data_dir)
    builder.download_and_prepare(file_format="array_record")
    return builder


def clip_source(name: str, split: str, data_dir: str = DEFAULT_DATA_DIR):
    """Random-access clips of a prepared dataset; frames['image'] holds PNG bytes."""
    builder = tfds.builder(name, data_dir=data_dir)
    if not builder.is_prepared():
        raise FileNotFoundError(
            f"dataset {name} is not prepared under {data_dir}: run `python -m "
            f"diffdub_jax.prepare_data --dataset={name} --data_dir={data_dir}` first")
    if split not in builder.info.splits:
        raise ValueError(f"dataset {name} has no split {split!r}; it has {list(builder.info.splits)}")
    return builder.as_data_source(split=split, decoders={"frames": {"image": _KeepEncoded()}})


def dataset_version(name: str, data_dir: str = DEFAULT_DATA_DIR) -> str:
    """The version of dataset `name` that clip_source reads from data_dir (the builder's current
    one): recorded with each checkpoint, so a run is never resumed on data it was not trained on."""
    return str(tfds.builder(name, data_dir=data_dir).version)


def decode_frame(png: bytes) -> np.ndarray:
    """PNG bytes -> (H, W, 3) uint8."""
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
