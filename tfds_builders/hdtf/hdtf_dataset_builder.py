"""TFDS builder of HDTF from a manual download (array_record, no TensorFlow needed)."""

from __future__ import annotations

import concurrent.futures
import dataclasses
import json
import multiprocessing
import os

import numpy as np
from etils import epath
import tensorflow_datasets as tfds
from absl import logging

from diffdub_jax.errors import MissingFileError
from tfds_builders.hdtf import clips, sources

_DETECTOR = None  # one per worker process: dlib's models load once, not once per clip


@dataclasses.dataclass
class HdtfConfig(tfds.core.BuilderConfig):
    image_size: int = 256
    segment_frames: int = 325  # a stage-2 window (250) + its 75 references fit in one segment
    crop_scale: float = 1.6  # the authors' recipe: crop side / max(face box width, height)
    audio_context: float = 3.0  # seconds of audio kept on each side of a segment (HuBERT context)


def build_or_skip(source: clips.ClipSource, framing: clips.Framing) -> tuple[list[tuple[str, dict]], str | None]:
    """(records, None) for a clip that builds, ([], reason) for one that does not. Never raises
    for a bad source: a 16-hour build does not stop for one video."""
    global _DETECTOR  # pylint: disable=global-statement
    if _DETECTOR is None:
        from diffdub_jax.data.faces import DlibDetector  # pylint: disable=import-outside-toplevel
        _DETECTOR = DlibDetector()
    try:
        return clips.build_clip(source, framing, _DETECTOR), None
    except clips.SkipClip as error:
        return [], str(error)


class Builder(tfds.core.GeneratorBasedBuilder):
    """HDTF talking-face clips: 25 fps face crops, landmarks and 16 kHz audio (see README.md)."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "First release."}
    BUILDER_CONFIGS = [
        HdtfConfig(name="256px", description="256 px crops, as the DiffDub release trains."),
        HdtfConfig(name="512px", description="512 px crops.", image_size=512),
    ]
    DEFAULT_BUILDER_CONFIG_NAME = "256px"
    MANUAL_DOWNLOAD_INSTRUCTIONS = """\
    HDTF publishes metadata, not videos. Put in the manual dir either or both of:
    1. the release as published: the folder `HDTF_dataset/` of https://github.com/MRzzm/HDTF (its
       {RD,WDA,WRA}_{video_url,annotion_time,crop_wh,crop_ratio,resolution}.txt), and next to it
       (anywhere below the manual dir) the source videos you downloaded from the URLs in
       *_video_url.txt (highest resolution; e.g. `yt-dlp -f 'bv*+ba' -o 'RD/%(title)s'`), named
       `<GROUP>_<Name>.<ext>` (RD_Radio34.mp4) or `<Name>.<ext>` inside a `<GROUP>/` folder;
    2. clips you already cut, named `<GROUP>_<Name>_<index>.mp4` (WDA_BernieSanders_000.mp4).
    Then: python -m diffdub_jax.prepare_data --dataset=hdtf --manual_dir=DIR --data_dir=DIR
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.skipped: list[tuple[str, str]] = []  # (clip or file, reason), for the build summary
        self.members: dict[str, list[str]] = {}  # split -> the clips it was built from
        self.skip_log_dir = ""  # Beam builds: where workers list the clips they skip (see build_summary)

    def _info(self) -> tfds.core.DatasetInfo:
        size = self.builder_config.image_size
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict({
                "clip_id": tfds.features.Text(),
                "segment": tfds.features.Scalar(dtype=np.int32),
                "first_frame": tfds.features.Scalar(dtype=np.int32),
                "clip_frames": tfds.features.Scalar(dtype=np.int32),
                "identity": tfds.features.Scalar(dtype=np.int32),
                "fps": tfds.features.Scalar(dtype=np.float32),
                "sample_rate": tfds.features.Scalar(dtype=np.int32),
                "waveform": tfds.features.Tensor(shape=(None,), dtype=np.int16),
                "waveform_offset": tfds.features.Scalar(dtype=np.int32),
                "crop_box": tfds.features.Tensor(shape=(3,), dtype=np.int32),
                "frames": tfds.features.Sequence({
                    "image": tfds.features.Image(shape=(size, size, 3), encoding_format="png"),
                    "landmarks": tfds.features.Tensor(shape=(68, 2), dtype=np.float32),
                    "face_found": tfds.features.Scalar(dtype=np.bool_),
                }),
            }),
            homepage="https://github.com/MRzzm/HDTF",
            license="CC BY 4.0 (the metadata); the videos belong to their YouTube uploaders",
        )

    def _framing(self) -> clips.Framing:
        config = self.builder_config
        return clips.Framing(config.image_size, config.crop_scale, config.segment_frames, config.audio_context)

    def _generate_splits(self, dl_manager, download_config):
        self._beam = download_config.beam_runner is not None or download_config.beam_options is not None
        return super()._generate_splits(dl_manager, download_config)

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        found, problems = sources.find_clips(os.fspath(dl_manager.manual_dir))
        if not found:
            raise MissingFileError(f"no HDTF clip in {dl_manager.manual_dir}: neither source videos named in "
                                   f"{sources.metadata.METADATA_DIR}/*.txt nor cut clips <GROUP>_<Name>_<index>.mp4 "
                                   f"({len(problems)} problems: {problems[:3]})")
        self.skipped.extend(problems)
        by_split = {"train": [], "test": []}
        for source in found:
            by_split[sources.split_of(source.name)].append(source)
        self.members = {split: [source.name for source in members] for split, members in by_split.items()}
        return {split: self._generate_examples(split, members) for split, members in by_split.items() if members}

    def _generate_examples(self, split: str, members: list[clips.ClipSource]):
        if getattr(self, "_beam", False):
            return _beam_clips()(self._framing(), members, os.path.join(self.skip_log_dir, split))
        return self._generate_locally(split, members)

    def _generate_locally(self, split: str, members: list[clips.ClipSource]):
        """Clips on every local core, in a pool of spawned processes."""
        framing = self._framing()
        workers = min(os.cpu_count() or 1, len(members))
        if workers <= 1:
            yield from self._collect(members, (build_or_skip(source, framing) for source in members))
            return
        # spawn: the caller may have started JAX threads, which fork would copy broken
        with concurrent.futures.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            yield from self._collect(members, pool.map(build_or_skip, members, [framing] * len(members)))

    def _collect(self, members, results):
        """The records of the clips that built; the others go to self.skipped with their reason."""
        for source, (records, reason) in zip(members, results):
            if reason is not None:
                logging.warning("HDTF: skipping %s (%s)", source.name, reason)
                self.skipped.append((source.name, reason))
                continue
            yield from records

    def build_summary(self) -> dict:
        """What the last download_and_prepare built per split and what it skipped, with reasons."""
        skipped = list(self.skipped)
        if self.skip_log_dir:
            for path in sorted(epath.Path(self.skip_log_dir).glob("*.jsonl")):
                skipped += [tuple(json.loads(line)) for line in path.read_text().splitlines() if line]
        missing = {name for name, _ in skipped}
        return {"dataset": self.info.full_name,
                "built": {split: [name for name in names if name not in missing]
                          for split, names in self.members.items()},
                "skipped": [{"clip": name, "reason": reason} for name, reason in skipped]}


def _beam_clips():
    """A Beam PTransform class, defined when Beam is used (apache-beam is an optional extra)."""
    beam = tfds.core.lazy_imports.apache_beam

    class BeamClips(beam.PTransform):
        """The clips as a Beam pipeline: one clip per work item on any runner; the records go to
        TFDS's writer, the skipped clips as JSON lines to `skip_log` (a path prefix)."""

        def __init__(self, framing: clips.Framing, members: list[clips.ClipSource], skip_log: str):
            super().__init__()
            self.framing, self.members, self.skip_log = framing, members, skip_log

        def expand(self, pipeline):
            framing = self.framing

            def build(source):
                records, reason = build_or_skip(source, framing)
                if reason is not None:
                    yield beam.pvalue.TaggedOutput("skipped", json.dumps([source.name, reason]))
                yield from records

            results = (pipeline | "Clips" >> beam.Create(self.members)
                       | "Build" >> beam.FlatMap(build).with_outputs("skipped", main="records"))
            _ = results.skipped | "SkipLog" >> beam.io.WriteToText(self.skip_log, file_name_suffix=".jsonl")
            return results.records

    return BeamClips

