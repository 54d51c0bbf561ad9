"""Dub a video: face track -> crops -> audio features -> motion codes -> batched DDIM -> paste -> mp4.

Memory stays bounded for any length: source frames are decoded once into a memory-mapped file
(random access for ping-pong extension without holding the video in RAM), and rendering, pasting
and encoding stream over fixed-size batches of output frames. The mp4 is written to a temporary
file and renamed only when complete; every input is checked before the long work starts.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import functools
import os
import tempfile
import time
from typing import Callable

import numpy as np
from tqdm import tqdm

from diffdub_jax.data import audio, faces, files, masks, paste, reference_frame, video
from diffdub_jax.data.pixels import to_uint8, to_unit_range
from diffdub_jax.errors import InvalidInputError, UserError
from diffdub_jax.inference.models import DubbingModels
from diffdub_jax.inference.prepared import PreparedVideos, prepare
from diffdub_jax.serving.motion_service import REFERENCE_MODES, reference_indices

# "masks" is the host's share of rendering (edit masks, dispatch); "render" the wait for the
# device, which works on one batch while the host pastes and encodes the one before.
STAGES = ("load", "detect", "audio", "motion", "masks", "render", "paste", "encode")


class ReferenceFrameError(UserError, ValueError):
    """The reference frame asked for is not a frame of the video, or has no face."""


REFERENCE_CHOICES = ("auto", "first")  # or a frame index


def _reference_choice(reference: str | int) -> str | int:
    """'auto', 'first' or a frame index (checked against the video's length once it is decoded)."""
    if str(reference) in REFERENCE_CHOICES:
        return str(reference)
    try:
        return int(reference)
    except ValueError:
        raise ReferenceFrameError(f"reference {reference!r}: choose auto, first or a frame index") from None


def _check_reference_frame(reference: str | int, info: video.VideoInfo, video_path: str) -> None:
    if isinstance(reference, int) and not 0 <= reference < info.num_frames:
        raise ReferenceFrameError(f"{video_path}: reference frame {reference} is not one of its "
                                  f"{info.num_frames} frames")


@dataclasses.dataclass
class DubResult:
    output: str
    num_frames: int
    fps: float
    width: int
    height: int
    frames_with_face: int
    timings: dict[str, float]
    reference_frame: int  # the source frame the renderer copied the look from (and stage 2's first reference)
    schedule: np.ndarray  # the source frame shown at each output frame
    crop_box: faces.CropBox  # the fixed crop that was rendered and pasted back
    crop_scale: float  # its side over the face box's (the renderer's framing unless overridden)
    prepared_from_cache: bool = False  # the video's frames, track, crops and reference codes were kept ones

    def timing_table(self) -> str:
        total = sum(self.timings.values())
        rows = [f"{'stage':<8} {'seconds':>8} {'share':>6}"]
        rows += [f"{name:<8} {seconds:8.2f} {seconds / max(total, 1e-9):6.1%}" for name, seconds in self.timings.items()]
        rows.append(f"{'total':<8} {total:8.2f}  ({self.num_frames / max(total, 1e-9):.2f} output frames/s)")
        return "\n".join(rows)


class _Timer:
    def __init__(self):
        self.seconds = {stage: 0.0 for stage in STAGES}

    def add(self, stage: str, since: float) -> float:
        now = time.perf_counter()
        self.seconds[stage] += now - since
        return now


def dub(video_path: str, output_path: str, models: DubbingModels, *, audio_path: str | None = None,
        **options) -> DubResult:
    """`dub_local` for paths that may be URLs (gs://...): remote inputs are copied to a local
    staging folder first (ffmpeg reads local files), a remote output is written there and copied
    to its place once finished."""
    if not any(files.is_url(path) for path in (video_path, output_path, audio_path)):
        return dub_local(video_path, output_path, models, audio_path=audio_path, **options)
    remote_output = files.is_url(output_path)
    if remote_output:
        files.check_remote_destination(output_path)
    with tempfile.TemporaryDirectory(prefix="diffdub_staging_") as staging:
        local_output = output_path
        if remote_output:  # its own folder: the staged source may have the same name
            local_output = os.path.join(staging, "output", os.path.basename(output_path))
            os.makedirs(os.path.dirname(local_output))
        result = dub_local(files.local_copy(video_path, staging), local_output, models,
                           audio_path=audio_path and files.local_copy(audio_path, staging), **options)
        if remote_output:
            files.upload(local_output, output_path)
    return dataclasses.replace(result, output=output_path)


def dub_local(video_path: str, output_path: str, models: DubbingModels, *, audio_path: str | None = None,
              mode: str = "few_shot", reference: str | int = "auto", extend: str = "pingpong", face_index: int = 0,
              seed: int = 0, crop_scale: float | None = None, detector: faces.LandmarkDetector | None = None,
              on_frame: Callable[[int, int, np.ndarray], None] | None = None,
              prepared_videos: PreparedVideos | None = None) -> DubResult:
    """Re-renders the lower face of video_path so its lips follow audio_path (default: the video's
    own audio track) and writes output_path (h264 + aac mp4, source fps and resolution, the new
    audio's duration). `models` (DubbingModels.load) may serve many dubs: one load, one compilation.
    reference: the source frame the renderer copies the look from and stage 2 starts its
    references at: 'auto' (a frontal frame with a closed mouth, data.reference_frame), 'first'
    (the first frame with a face, as the release) or a frame index; few-shot references are the
    frames with a face from there on. crop_scale overrides the framing the renderer was trained
    with (its config's data.crop_scale).
    on_frame(output_index, source_index, frame) sees each composed frame before the lossy encoding
    (the tests check its pixels)."""
    if mode not in REFERENCE_MODES:
        raise InvalidInputError(f"unknown reference mode {mode!r}; choose one of {REFERENCE_MODES}")
    renderer = models.renderer
    crop_scale = renderer.framing.crop_scale if crop_scale is None else crop_scale
    video.check_output_path(output_path)
    video.check_input(video_path)
    reference = _reference_choice(reference)
    timer, tick = _Timer(), time.perf_counter()  # "load": the speech, and a kept preparation's check
    framing = {"size": renderer.image_size, "crop_scale": crop_scale, "face_index": face_index}
    cache = prepared_videos if renderer.checkpoint else None
    entry = cache.entry(video_path, **framing, renderer=renderer.checkpoint) if cache else None
    prepared = cache.lookup(entry) if cache else None
    if audio_path is None:
        waveform, audio_source = video.extract_audio_track(video_path), video_path
    else:
        waveform, audio_source = audio.load_audio(audio_path), audio_path
    if len(waveform) == 0:
        raise audio.AudioError(f"{audio_source}: the audio is empty")
    size, batch_size = renderer.image_size, renderer.batch_size
    tick = timer.add("load", tick)

    with tempfile.TemporaryDirectory(prefix="diffdub_") as scratch:
        # the reference frame is checked once the video's length is known, before its face track
        check = functools.partial(_check_reference_frame, reference, video_path=video_path)
        if prepared is not None:
            check(prepared.info)
        elif cache:
            prepared = cache.build(video_path, entry, **framing, detector=detector, check=check)
        else:
            prepared = prepare(video_path, scratch, **framing, detector=detector, check=check)
        info = prepared.info
        num_output = max(1, int(round(len(waveform) / audio.SAMPLE_RATE * info.fps)))
        schedule = video.frame_schedule(info.num_frames, num_output, extend)
        frames, crops, landmarks, found, box = (prepared.frames, prepared.crops, prepared.landmarks, prepared.found,
                                                prepared.box)
        with_face = np.flatnonzero(found)
        if reference == "auto":
            first = int(reference_frame.choose_reference(landmarks[with_face]))
        elif reference == "first":
            first = 0
        elif found[reference]:
            first = int(np.searchsorted(with_face, reference))
        else:
            raise ReferenceFrameError(f"{video_path}: no face found in reference frame {reference}")
        tick = timer.add("detect", tick)

        features = models.audio.for_video(waveform, audio.SAMPLE_RATE, info.fps, num_output, audio_source)
        tick = timer.add("audio", tick)

        references = reference_indices(np.roll(with_face, -first), models.motion.num_reference_frames, mode)
        codes = prepared.reference_codes(references, lambda indices: renderer.encode(np.stack(
            [to_unit_range(masks.encoder_crop(crops[i], landmarks[i], size)) for i in indices])))
        latents = models.motion.predict(features, codes)
        reference_image = renderer.replicated(to_unit_range(crops[references[0]]))  # on the devices once
        tick = timer.add("motion", tick)

        def mask_landmarks(source_frame: int) -> np.ndarray:
            """Landmarks of the frames with a face whose edit regions make this frame's mask."""
            nearby = np.arange(info.num_frames)[masks.window(source_frame, info.num_frames, renderer.framing.mask_window)]
            return landmarks[nearby[found[nearby]]]

        x_T = renderer.replicated(renderer.noise(seed))

        def submit(start: int) -> tuple:
            """Masks for the output frames from start on, and their render started on the device."""
            outputs = np.arange(start, min(start + batch_size, num_output))
            sources = schedule[outputs]
            with_face = found[sources]
            if not with_face.any():
                return outputs, sources, with_face, None, None
            edit = np.stack(list(host_threads.map(
                lambda s: masks.edit_mask(mask_landmarks(s), size, renderer.framing.mask_dilation), sources[with_face])
            )).astype(np.float32)
            pending = renderer.submit(to_unit_range(crops[sources[with_face]]), reference_image, edit[..., None],
                                      x_T, z_sem=latents[outputs[with_face]])
            return outputs, sources, with_face, edit, pending

        def finish(outputs, sources, with_face, edit, pending) -> None:
            """Waits for a batch's renders, pastes them into the source frames and encodes those."""
            nonlocal tick
            rendered = dict(zip(outputs[with_face], to_uint8(pending.result()))) if pending else {}
            edit_regions = dict(zip(outputs[with_face], edit)) if pending else {}
            tick = timer.add("render", tick)

            def compose(t: int, s: int) -> np.ndarray:
                frame = np.asarray(frames[s])
                return paste.paste_face(frame, rendered[t], box, edit_regions[t]) if t in rendered else frame

            composed = list(host_threads.map(compose, outputs, sources))  # numpy, PIL and scipy release the GIL
            if on_frame is not None:
                for t, s, frame in zip(outputs, sources, composed):
                    on_frame(int(t), int(s), frame)
            tick = timer.add("paste", tick)
            for frame in composed:
                writer.write(frame)
            tick = timer.add("encode", tick)

        # One batch in flight while the previous one is pasted and encoded: the device and the
        # host work at the same time.
        with (video.VideoWriter(output_path, info.fps, audio_path=audio_source) as writer,
              concurrent.futures.ThreadPoolExecutor(min(8, os.cpu_count() or 1)) as host_threads):
            in_flight = None
            for start in tqdm(range(0, num_output, batch_size), desc="render"):
                batch = submit(start)
                tick = timer.add("masks", tick)
                if in_flight is not None:
                    finish(*in_flight)
                in_flight = batch
            if in_flight is not None:
                finish(*in_flight)
        tick = timer.add("encode", tick)  # closing the writer muxes the audio
    return DubResult(output_path, num_output, info.fps, info.width, info.height,
                     int(found[schedule].sum()), {k: round(v, 3) for k, v in timer.seconds.items()},
                     int(references[0]), schedule, box, crop_scale, prepared.cached)
