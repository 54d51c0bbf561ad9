"""Building and opening the project's TFDS datasets without TensorFlow.

`tfds build` imports TensorFlow, so datasets are prepared through the builder classes here. Clips
are opened with `tfds.data_source` (random access over array_record files); frame images stay
PNG-encoded until a transform decodes the few frames it needs.
"""

from __future__ import annotations

import io
import json
import os
import textwrap
import uuid

import numpy as np
import tensorflow_datasets as tfds
from etils import epath
from PIL import Image

from diffdub_jax.data.files import write_json
from diffdub_jax.data.reading import DEFAULT_DATA_DIR
from diffdub_jax.errors import InvalidInputError, MissingFileError

import tfds_builders.hdtf  # noqa: F401  (registers the builders with TFDS)
import tfds_builders.synthetic_talking_faces  # noqa: F401

BUILD_SUMMARY = "build_summary.json"


class _KeepEncoded(tfds.decode.Decoder):
    """Leaves a feature's bytes as they are stored (a numpy-mode SkipDecoding)."""

    def decode_example(self, serialized):
        return serialized

    def decode_example_np(self, serialized):
        return serialized

    def decode_batch_example_np(self, serialized):
        return serialized


def _builder(name: str, data_dir: str):
    """The TFDS builder of one of the project's datasets; InvalidInputError naming them for another name."""
    try:
        return tfds.builder(name, data_dir=data_dir)
    except tfds.core.registered.DatasetNotFoundError:
        raise InvalidInputError(f"no dataset {name!r}; the project builds synthetic_talking_faces/small, "
                                f"synthetic_talking_faces/64px, synthetic_talking_faces/256px, hdtf and hdtf/512px") from None


def prepare(name: str, data_dir: str = DEFAULT_DATA_DIR, *, manual_dir: str | None = None,
            beam_args: list[str] | None = None) -> tfds.core.DatasetBuilder:
    """Builds dataset `name` ('synthetic_talking_faces/small', 'hdtf', ...) once; later calls
    reuse it. manual_dir: what the user downloaded (HDTF). beam_args: build on Apache Beam with
    these pipeline options (`[]`: the local DirectRunner; `--runner=DataflowRunner ...`), else on
    the local cores. A builder that reports a build summary (HDTF: clips built and skipped, with
    reasons) gets it written to `<its data dir>/build_summary.json`."""
    builder = _builder(name, data_dir)
    if builder.is_prepared():
        return builder
    instructions = getattr(builder, "MANUAL_DOWNLOAD_INSTRUCTIONS", None)
    if instructions and not (manual_dir and epath.Path(manual_dir).is_dir() and any(epath.Path(manual_dir).iterdir())):
        where = f"{manual_dir} does not exist or is empty" if manual_dir else "no manual dir was given (--manual_dir)"
        raise MissingFileError(f"dataset {name} is built from files you download: {where}.\n"
                               f"{textwrap.dedent(instructions).strip()}")
    config = tfds.download.DownloadConfig(manual_dir=manual_dir)
    if beam_args is not None:
        try:
            beam = tfds.core.lazy_imports.apache_beam
        except ImportError as error:
            raise MissingFileError("building on Beam needs apache-beam: pip install -e '.[beam]'") from error
        config.beam_options = beam.options.pipeline_options.PipelineOptions(flags=list(beam_args))
        if hasattr(builder, "skip_log_dir"):
            builder.skip_log_dir = os.fspath(epath.Path(data_dir) / "downloads" / f"skipped-{uuid.uuid4().hex}")
    try:  # TFDS writes into a temporary folder, renamed when complete and removed on failure
        builder.download_and_prepare(file_format="array_record", download_config=config)
        if hasattr(builder, "build_summary"):
            write_json(os.path.join(os.fspath(builder.data_dir), BUILD_SUMMARY), builder.build_summary())
    finally:
        if getattr(builder, "skip_log_dir", ""):
            epath.Path(builder.skip_log_dir).rmtree(missing_ok=True)
    return builder


def build_summary(name: str, data_dir: str = DEFAULT_DATA_DIR) -> dict | None:
    """The summary `prepare` wrote for dataset `name`, or None (a builder without one)."""
    path = epath.Path(_builder(name, data_dir).data_dir) / BUILD_SUMMARY
    return json.loads(path.read_text()) if path.exists() else None


def clip_source(name: str, split: str, data_dir: str = DEFAULT_DATA_DIR):
    """Random-access clips of a prepared dataset; frames['image'] holds PNG bytes."""
    builder = _builder(name, data_dir)
    if not builder.is_prepared():
        raise MissingFileError(
            f"dataset {name} is not prepared under {data_dir}: run `python -m "
            f"diffdub_jax.prepare_data --dataset={name} --data_dir={data_dir}` first")
    if split not in builder.info.splits:
        raise InvalidInputError(f"dataset {name} has no split {split!r}; it has {list(builder.info.splits)}")
    return builder.as_data_source(split=split, decoders={"frames": {"image": _KeepEncoded()}})


def dataset_version(name: str, data_dir: str = DEFAULT_DATA_DIR) -> str:
    """The version of dataset `name` that clip_source reads from data_dir (the builder's current
    one): recorded with each checkpoint, so a run is never resumed on data it was not trained on."""
    return str(_builder(name, data_dir).version)


def decode_frame(png: bytes) -> np.ndarray:
    """PNG bytes -> (H, W, 3) uint8."""
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
