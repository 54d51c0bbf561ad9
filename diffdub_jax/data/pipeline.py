"""Grain input pipelines over TFDS clip sources for both training stages.

A pipeline is: this host's shard of the clips (a disjoint slice) -> shuffle (reshuffled every
epoch, by seed) -> repeat -> a per-example transform with its own seeded RNG -> batch. Everything
random is a function of (seed, position in the stream), so a run is reproducible and an iterator
restored from `get_state()` continues with the identical next batch.

Stage 1 (`renderer_example`) draws a target frame and reference frame(s) of one clip and builds
the edit mask and the (augmented) eye-guided encoder crop. Stage 2 (`motion_example`) cuts a
window of audio features with reference frames of the same clip outside the window, padding short
clips with a validity mask.
"""

from __future__ import annotations

import functools
from typing import Callable, Mapping

import grain
import ml_collections
import numpy as np
from PIL import Image

from diffdub_jax.data import audio, augment, datasets, latent_store, masks

Example = dict[str, np.ndarray]
Transform = Callable[[int, Mapping, np.random.Generator], Example]


def to_unit_range(image: np.ndarray) -> np.ndarray:
    """uint8 [0, 255] -> float32 [-1, 1], the renderer's pixel range."""
    return (image.astype(np.float32) / 127.5 - 1.0).astype(np.float32)


def _decode_at_size(png: bytes, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Decodes a frame, resized to size x size if needed; also returns the (x, y) scale used."""
    image = datasets.decode_frame(png)
    scale = np.array([size / image.shape[1], size / image.shape[0]], np.float32)
    if image.shape[:2] != (size, size):
        image = np.asarray(Image.fromarray(image).resize((size, size), Image.Resampling.BICUBIC))
    return image, scale


def frame_at_size(frames: Mapping, index: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Frame `index` of a clip at size x size (uint8) and its 68 landmarks in those pixels."""
    image, scale = _decode_at_size(frames["image"][index], size)
    return image, _scaled(frames["landmarks"][index], scale)


def _scaled(landmarks, scale: np.ndarray) -> np.ndarray:
    return (np.asarray(landmarks, np.float32) + 0.5) * scale - 0.5


def mask_settings(data: ml_collections.ConfigDict) -> tuple[int, float]:
    """(mask_window, mask_dilation) of a renderer's data config; checkpoints written before these
    fields existed get the release's per-frame, 8 px masks."""
    return int(data.get("mask_window", 0)), float(data.get("mask_dilation", masks.DILATION_RADIUS))


def frame_with_edit_mask(frames: Mapping, index: int, size: int, mask_window: int = 0,
                         mask_dilation: float = masks.DILATION_RADIUS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """frame_at_size of frame `index` and its (size, size, 1) float32 edit mask: the union of the
    edit regions of the frames within mask_window of it (0: its own region, as the release draws
    it), dilated by mask_dilation px at 256 (masks.edit_mask). The frame is decoded once."""
    image, scale = _decode_at_size(frames["image"][index], size)
    nearby = np.asarray(frames["landmarks"][masks.window(index, len(frames["image"]), mask_window)])
    edit_mask = masks.edit_mask(_scaled(nearby, scale), size, mask_dilation)[..., None].astype(np.float32)
    return image, _scaled(frames["landmarks"][index], scale), edit_mask


def clean_encoder_crop(frames: Mapping, index: int, size: int) -> np.ndarray:
    """The unaugmented eye-guided crop of frame `index` in [-1, 1]: what stage 1's encoder sees
    at inference, so stage 2 learns to predict the latents of such crops."""
    image, landmarks = frame_at_size(frames, index, size)
    return to_unit_range(masks.encoder_crop(image, landmarks, size))


def renderer_example(record_index: int, clip: Mapping, rng: np.random.Generator, *,
                     image_size: int, num_references: int = 1, augment_crop: bool = True,
                     mask_window: int = 0, mask_dilation: float = masks.DILATION_RADIUS) -> Example:
    """One stage-1 example from a clip: a random target frame and other frame(s) as references.

    Returns image / reference (channels 3 * num_references) / encoder_crop in [-1, 1], the edit
    mask (1 = regenerate; see frame_with_edit_mask) as float32 (H, W, 1), and the
    record, frame and identity indices.
    """
    frames = clip["frames"]
    num_frames = len(frames["image"])
    if num_frames < 1 + num_references:
        raise ValueError(f"clip {clip['clip_id']!r} has {num_frames} frames; "
                         f"{1 + num_references} are needed for a target and its references")
    chosen = rng.choice(num_frames, size=1 + num_references, replace=False)
    image, landmarks, edit_mask = frame_with_edit_mask(frames, int(chosen[0]), image_size, mask_window, mask_dilation)
    references = [_decode_at_size(frames["image"][i], image_size)[0] for i in chosen[1:]]
    crop = masks.encoder_crop(image, landmarks, image_size)
    if augment_crop:
        crop = augment.augment_encoder_crop(crop, rng)
    return {
        "image": to_unit_range(image),
        "reference": to_unit_range(np.concatenate(references, axis=-1)),
        "encoder_crop": to_unit_range(crop),
        "edit_mask": edit_mask,
        "record_index": np.int32(record_index),
        "frame_index": np.int32(chosen[0]),
        "identity": np.int32(clip["identity"]),
    }


def clip_audio_features(clip: Mapping, num_mels: int) -> np.ndarray:
    """(2 * num_frames, num_mels) log-mel features of a clip's waveform, aligned to its frames."""
    waveform = np.asarray(clip["waveform"], np.float32) / 32768.0
    features = audio.log_mel(waveform, int(clip["sample_rate"]), num_mels)
    return audio.align_to_video(features, audio.FEATURE_RATE, float(clip["fps"]),
                                len(clip["frames"]["image"]))


def motion_example(record_index: int, clip: Mapping, rng: np.random.Generator, *,
                   window_frames: int, num_reference_frames: int, num_mels: int = 80,
                   frame_fields: tuple[str, ...] = (), latents: np.ndarray | None = None,
                   one_shot_probability: float = 0.0) -> Example:
    """One stage-2 example: a window of up to window_frames frames and its audio features, and
    num_reference_frames frames of the same clip outside the window (consecutive where the clip
    allows). Short clips give a shorter window, zero-padded; `valid` marks the real frames.

    frame_fields names per-frame arrays of the clip (e.g. 'mouth') to gather for the window
    (`<field>`) and the references (`reference_<field>`). latents (num_frames, D), the clip's
    extracted z_sem, adds the targets `latents` and `reference_latents`; with probability
    one_shot_probability the references are one of those frames repeated (one-shot mode), so a
    model trained on the stream serves both modes.
    """
    num_frames = clip["num_frames"] if "num_frames" in clip else len(clip["frames"]["image"])
    length = min(window_frames, num_frames - num_reference_frames)
    if length < 1:
        raise ValueError(f"clip {clip['clip_id']!r} has {num_frames} frames; a motion example needs "
                         f"more than the {num_reference_frames} reference frames")
    start = int(rng.integers(0, num_frames - length + 1))
    outside = np.concatenate([np.arange(start), np.arange(start + length, num_frames)])
    offset = int(rng.integers(0, len(outside) - num_reference_frames + 1))
    references = outside[offset : offset + num_reference_frames]

    per_frame = audio.FEATURES_PER_VIDEO_FRAME
    features = clip["audio_features"] if "audio_features" in clip else clip_audio_features(clip, num_mels)
    features = features[per_frame * start : per_frame * (start + length)]
    padded = np.zeros((per_frame * window_frames, num_mels), np.float32)
    padded[: len(features)] = features
    frame_index = np.zeros(window_frames, np.int32)
    frame_index[:length] = np.arange(start, start + length)
    example = {
        "audio_features": padded,
        "valid": np.arange(window_frames) < length,
        "frame_index": frame_index,
        "reference_index": references.astype(np.int32),
        "record_index": np.int32(record_index),
        "identity": np.int32(clip["identity"]),
    }
    if latents is not None:
        if rng.random() < one_shot_probability:
            references = np.full_like(references, references[rng.integers(len(references))])
        example["reference_index"] = references.astype(np.int32)
        target = np.zeros((window_frames, latents.shape[1]), np.float32)
        target[:length] = latents[start : start + length]
        example["latents"] = target
        example["reference_latents"] = np.asarray(latents[references], np.float32)
    for field in frame_fields:
        values = np.asarray(clip["frames"][field])
        window = np.zeros((window_frames,) + values.shape[1:], values.dtype)
        window[:length] = values[start : start + length]
        example[field] = window
        example[f"reference_{field}"] = values[references]
    return example


def motion_clip(clip: Mapping, num_mels: int, frame_fields: tuple[str, ...] = ()) -> dict:
    """What motion_example needs of a clip (no frame images, audio features computed): small
    enough to keep in memory, so each clip is read and featurised once, not once per visit."""
    return {"clip_id": clip["clip_id"], "identity": clip["identity"], "num_frames": len(clip["frames"]["image"]),
            "audio_features": clip_audio_features(clip, num_mels),
            "frames": {field: np.asarray(clip["frames"][field]) for field in frame_fields}}


class CachedClips:
    """A clip source whose records pass through `summarise` once and stay in an LRU cache."""

    def __init__(self, source, summarise: Callable[[Mapping], dict], max_clips: int):
        self._source = source
        self._get = functools.lru_cache(maxsize=max_clips)(lambda index: summarise(source[index]))

    def __len__(self) -> int:
        return len(self._source)

    def __getitem__(self, index: int) -> dict:
        return self._get(int(index))


def data_config(preset: str, stage: str) -> ml_collections.ConfigDict:
    """The `data` section shared by the stage configs. Presets: 'real' (HDTF, the release's
    sizes), 'synthetic' (the embedded default, trains on a laptop CPU), 'tiny' (tests)."""
    if preset not in ("real", "synthetic", "tiny"):
        raise ValueError(f"unknown preset {preset!r}; choose real, synthetic or tiny")
    data = ml_collections.ConfigDict()
    data.name = {"real": "hdtf", "synthetic": "synthetic_talking_faces/64px",
                 "tiny": "synthetic_talking_faces/small"}[preset]
    data.data_dir = datasets.DEFAULT_DATA_DIR
    data.seed = 0
    data.read_threads = 2
    data.worker_processes = 0
    # Clips kept in memory once read (0: read every visit). A synthetic run visits each clip ~100
    # times; reading one (all its PNG frames) costs more than building an example from it.
    data.cache_clips = {"real": 0, "synthetic": 4096, "tiny": 64}[preset]
    if stage == "renderer":
        # The synthetic renderer trains at 32 px (resized from the 64 px set): 4x cheaper steps
        # buy the optimiser steps a diffusion model needs within minutes on a laptop CPU.
        data.image_size = {"real": 256, "synthetic": 32, "tiny": 32}[preset]
        data.batch_size = {"real": 32, "synthetic": 8, "tiny": 4}[preset]
        data.num_references = 1
        # Edit masks united over this many frames each side (0 = per frame, the release) and
        # dilated by mask_dilation px at 256 (8 = the release): see masks.edit_mask. The synthetic
        # jaw drops with the mouth; seen outside the mask it tells the renderer the mouth.
        data.mask_window = {"real": 0, "synthetic": 12, "tiny": 2}[preset]
        data.mask_dilation = {"real": 8.0, "synthetic": 8.0, "tiny": 12.0}[preset]  # px at 256
    elif stage == "motion":
        data.window_frames = {"real": 250, "synthetic": 100, "tiny": 40}[preset]
        data.num_reference_frames = {"real": 75, "synthetic": 50, "tiny": 10}[preset]
        data.batch_size = {"real": 16, "synthetic": 8, "tiny": 2}[preset]
    else:
        raise ValueError(f"unknown stage {stage!r}")
    return data


def make_pipeline(
    source,
    transform: Transform,
    *,
    batch_size: int,
    seed: int,
    shard_index: int = 0,
    shard_count: int = 1,
    num_epochs: int | None = None,
    drop_remainder: bool = True,
    read_threads: int = 2,
    worker_processes: int = 0,
) -> grain.IterDataset:
    """Batches of transform(record_index, clip, rng) over this host's shard of source.

    Shard i of n holds the records i, i + n, i + 2n, ...: hosts never share a record and together
    cover all of them. num_epochs=None repeats forever. Iterate with `iter(pipeline)`; the
    iterator's get_state()/set_state() checkpoint the position.
    """
    if not 0 <= shard_index < shard_count:
        raise ValueError(f"shard_index {shard_index} is not in [0, {shard_count})")
    indices = grain.MapDataset.range(len(source))[shard_index::shard_count]
    if len(indices) == 0:
        raise ValueError(f"shard {shard_index} of {shard_count} is empty: the source has only "
                         f"{len(source)} records")
    dataset = indices.shuffle(seed=seed).repeat(num_epochs)
    dataset = dataset.random_map(lambda index, rng: transform(int(index), source[int(index)], rng),
                                 seed=seed)
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    iterable = dataset.to_iter_dataset(grain.ReadOptions(num_threads=read_threads,
                                                         prefetch_buffer_size=2 * batch_size))
    if worker_processes > 0:
        iterable = iterable.mp_prefetch(grain.MultiprocessingOptions(num_workers=worker_processes))
    return iterable


def _stage_pipeline(config, split: str, transform: Transform, shard_index: int, shard_count: int,
                    num_epochs: int | None, drop_remainder: bool,
                    summarise: Callable[[Mapping], dict] = dict) -> grain.IterDataset:
    """make_pipeline over a split, through CachedClips (records as summarise makes them, by
    default as read) when data.cache_clips is set."""
    data = config.data
    source = datasets.clip_source(data.name, split, data.data_dir)
    if data.get("cache_clips", 0):
        source = CachedClips(source, summarise, data.cache_clips)
    return make_pipeline(source, transform, batch_size=data.batch_size, seed=data.seed,
                         shard_index=shard_index, shard_count=shard_count, num_epochs=num_epochs,
                         drop_remainder=drop_remainder, read_threads=data.read_threads,
                         worker_processes=data.worker_processes)


def renderer_pipeline(config, split: str = "train", *, shard_index: int = 0, shard_count: int = 1,
                      num_epochs: int | None = None, drop_remainder: bool = True,
                      augment_crop: bool | None = None) -> grain.IterDataset:
    """The stage-1 pipeline described by a config's `data` section (augments `train` only)."""
    transform = functools.partial(
        renderer_example, image_size=config.data.image_size,
        num_references=config.data.num_references, mask_window=config.data.mask_window,
        mask_dilation=config.data.mask_dilation,
        augment_crop=(split == "train") if augment_crop is None else augment_crop)
    return _stage_pipeline(config, split, transform, shard_index, shard_count, num_epochs,
                           drop_remainder)


def motion_pipeline(config, split: str = "train", *, shard_index: int = 0, shard_count: int = 1,
                    num_epochs: int | None = None, drop_remainder: bool = True,
                    frame_fields: tuple[str, ...] = ()) -> grain.IterDataset:
    """The stage-2 pipeline described by a config's `data` and `audio` sections; with
    data.latents_dir set, examples carry the extracted latents of their clips."""
    example = functools.partial(
        motion_example, window_frames=config.data.window_frames,
        num_reference_frames=config.data.num_reference_frames, num_mels=config.audio.num_mels,
        frame_fields=frame_fields)
    latents_dir = config.data.get("latents_dir", "")
    if latents_dir:
        one_shot = config.data.one_shot_probability if split == "train" else 0.0

        def transform(record_index, clip, rng):
            return example(record_index, clip, rng, one_shot_probability=one_shot,
                           latents=latent_store.load_clip_latents(latents_dir, split, record_index))
    else:
        transform = example
    summarise = functools.partial(motion_clip, num_mels=config.audio.num_mels, frame_fields=frame_fields)
    return _stage_pipeline(config, split, transform, shard_index, shard_count, num_epochs,
                           drop_remainder, summarise)
