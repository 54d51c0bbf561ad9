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
import numpy as np
from PIL import Image

from diffdub_jax.data import audio, augment, datasets, masks, record_store
from diffdub_jax.data.framing import Framing
from diffdub_jax.data.pixels import rescale_points, to_unit_range
from diffdub_jax.errors import InvalidInputError

Example = dict[str, np.ndarray]
Transform = Callable[[int, Mapping, np.random.Generator], Example]
ClipFeatures = Callable[[Mapping], np.ndarray]  # a clip -> its audio features, 2 per video frame


def _decode_at_size(png: bytes, size: int) -> tuple[np.ndarray, tuple[int, int]]:
    """Decodes a frame, resized to size x size if needed; also returns its stored (width, height)."""
    image = datasets.decode_frame(png)
    stored = (image.shape[1], image.shape[0])
    if image.shape[:2] != (size, size):
        image = np.asarray(Image.fromarray(image).resize((size, size), Image.Resampling.BICUBIC))
    return image, stored


def frame_at_size(frames: Mapping, index: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Frame `index` of a clip at size x size (uint8) and its 68 landmarks in those pixels."""
    image, stored = _decode_at_size(frames["image"][index], size)
    return image, rescale_points(frames["landmarks"][index], stored, size)


def frame_with_edit_mask(frames: Mapping, index: int, framing: Framing) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """frame_at_size of frame `index` and its (size, size, 1) float32 edit mask: the union of the
    edit regions of the frames within framing.mask_window of it (0: its own region, as the release
    draws it), dilated by framing.mask_dilation px at 256 (masks.edit_mask). The frame is decoded once."""
    size = framing.image_size
    image, stored = _decode_at_size(frames["image"][index], size)
    nearby = np.asarray(frames["landmarks"][masks.window(index, len(frames["image"]), framing.mask_window)])
    edit_mask = masks.edit_mask(rescale_points(nearby, stored, size), size, framing.mask_dilation)
    return image, rescale_points(frames["landmarks"][index], stored, size), edit_mask[..., None].astype(np.float32)


def clean_encoder_crop(frames: Mapping, index: int, size: int) -> np.ndarray:
    """The unaugmented eye-guided crop of frame `index` in [-1, 1]: what stage 1's encoder sees
    at inference, so stage 2 learns to predict the latents of such crops."""
    image, landmarks = frame_at_size(frames, index, size)
    return to_unit_range(masks.encoder_crop(image, landmarks, size))


def renderer_example(record_index: int, clip: Mapping, rng: np.random.Generator, *,
                     framing: Framing, num_references: int = 1, augment_crop: bool = True) -> Example:
    """One stage-1 example from a clip: a random target frame and other frame(s) as references.

    Returns image / reference (channels 3 * num_references) / encoder_crop in [-1, 1], the edit
    mask (1 = regenerate; see frame_with_edit_mask) as float32 (H, W, 1), and the
    record, frame and identity indices.
    """
    frames = clip["frames"]
    num_frames = len(frames["image"])
    if num_frames < 1 + num_references:
        raise InvalidInputError(f"clip {clip['clip_id']!r} has {num_frames} frames; "
                                f"{1 + num_references} are needed for a target and its references")
    chosen = rng.choice(num_frames, size=1 + num_references, replace=False)
    if "face_found" in frames:  # the target is a frame whose landmarks were found, not filled in
        found = np.flatnonzero(np.asarray(frames["face_found"]))
        if len(found) and not frames["face_found"][chosen[0]]:
            target = int(found[rng.integers(len(found))])
            chosen = np.concatenate([[target], rng.choice(np.setdiff1d(np.arange(num_frames), [target]),
                                                          size=num_references, replace=False)])
    image, landmarks, edit_mask = frame_with_edit_mask(frames, int(chosen[0]), framing)
    references = [_decode_at_size(frames["image"][i], framing.image_size)[0] for i in chosen[1:]]
    crop = masks.encoder_crop(image, landmarks, framing.image_size)
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


def motion_example(record_index: int, clip: Mapping, rng: np.random.Generator, *,
                   window_frames: int, num_reference_frames: int, featurise: ClipFeatures | None = None,
                   frame_fields: tuple[str, ...] = (), latents: np.ndarray | None = None,
                   one_shot_probability: float = 0.0) -> Example:
    """One stage-2 example: a window of up to window_frames frames and its audio features (the
    clip's stored `audio_features`, else featurise(clip): (..., 2 * num_frames, D), time on the
    second-to-last axis, e.g. (layers, time, D) for HuBERT), and
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
        raise InvalidInputError(f"clip {clip['clip_id']!r} has {num_frames} frames; a motion example needs "
                                f"more than the {num_reference_frames} reference frames")
    start = int(rng.integers(0, num_frames - length + 1))
    outside = np.concatenate([np.arange(start), np.arange(start + length, num_frames)])
    offset = int(rng.integers(0, len(outside) - num_reference_frames + 1))
    references = outside[offset : offset + num_reference_frames]

    per_frame = audio.FEATURES_PER_VIDEO_FRAME
    features = clip["audio_features"] if "audio_features" in clip else featurise(clip)
    features = np.asarray(features)[..., per_frame * start : per_frame * (start + length), :]
    padded = np.zeros(features.shape[:-2] + (per_frame * window_frames, features.shape[-1]), np.float32)
    padded[..., : features.shape[-2], :] = features
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


def motion_clip(clip: Mapping, featurise: ClipFeatures | None, frame_fields: tuple[str, ...] = ()) -> dict:
    """What motion_example needs of a clip (no frame images; audio features computed unless
    featurise is None, when they come from a store): small enough to keep in memory, so each clip
    is read and featurised once, not once per visit."""
    summary = {"clip_id": clip["clip_id"], "identity": clip["identity"], "num_frames": len(clip["frames"]["image"]),
               "frames": {field: np.asarray(clip["frames"][field]) for field in frame_fields}}
    if featurise is not None:
        summary["audio_features"] = featurise(clip)
    return summary


class CachedClips:
    """A clip source whose records pass through `summarise` once and stay in an LRU cache."""

    def __init__(self, source, summarise: Callable[[Mapping], dict], max_clips: int):
        self._source = source
        self._get = functools.lru_cache(maxsize=max_clips)(lambda index: summarise(source[index]))

    def __len__(self) -> int:
        return len(self._source)

    def __getitem__(self, index: int) -> dict:
        return self._get(int(index))


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
        raise InvalidInputError(f"shard {shard_index} of {shard_count} is empty: the source has only "
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


RENDERER_INPUTS = ("image", "reference", "encoder_crop", "edit_mask")  # what the renderer reads of a batch


def renderer_inputs(batch: Mapping) -> dict:
    """The arrays of a stage-1 batch the renderer reads (the rest are indices for evaluation)."""
    return {key: batch[key] for key in RENDERER_INPUTS}


def renderer_pipeline(config, split: str = "train", *, shard_index: int = 0, shard_count: int = 1,
                      num_epochs: int | None = None, drop_remainder: bool = True,
                      augment_crop: bool | None = None) -> grain.IterDataset:
    """The stage-1 pipeline described by a config's `data` section (augments `train` only)."""
    transform = functools.partial(
        renderer_example, framing=Framing.from_config(config.data), num_references=config.data.num_references,
        augment_crop=(split == "train") if augment_crop is None else augment_crop)
    return _stage_pipeline(config, split, transform, shard_index, shard_count, num_epochs,
                           drop_remainder)


def motion_pipeline(config, featurise: ClipFeatures, split: str = "train", *, shard_index: int = 0,
                    shard_count: int = 1, num_epochs: int | None = None, drop_remainder: bool = True,
                    frame_fields: tuple[str, ...] = ()) -> grain.IterDataset:
    """The stage-2 pipeline described by a config's `data` section, with audio features from
    data.features_dir (what extract_audio_features stored) when set, else from featurise(clip)
    (the serving layer's AudioFrontend, the one inference uses); with data.latents_dir set,
    examples carry the extracted latents of their clips."""
    features_dir, latents_dir = config.data.get("features_dir", ""), config.data.get("latents_dir", "")
    features = record_store.audio_features(features_dir) if features_dir else None
    latents = record_store.latents(latents_dir) if latents_dir else None
    one_shot = config.data.one_shot_probability if latents and split == "train" else 0.0
    example = functools.partial(
        motion_example, window_frames=config.data.window_frames,
        num_reference_frames=config.data.num_reference_frames, featurise=featurise, frame_fields=frame_fields,
        one_shot_probability=one_shot)

    def transform(record_index, clip, rng):
        if features is not None:
            clip = {**clip, "audio_features": features.load(split, record_index)}
        return example(record_index, clip, rng, latents=latents.load(split, record_index) if latents else None)

    summarise = functools.partial(motion_clip, featurise=None if features else featurise, frame_fields=frame_fields)
    return _stage_pipeline(config, split, transform, shard_index, shard_count, num_epochs,
                           drop_remainder, summarise)
