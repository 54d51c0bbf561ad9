"""Dub a video: face track -> crops -> audio features -> motion codes -> batched DDIM -> paste -> mp4.

Memory stays bounded for any length: source frames are decoded once into a memory-mapped file
(random access for ping-pong extension without holding the video in RAM), and rendering, pasting
and encoding stream over fixed-size batches of output frames. The mp4 is written to a temporary
file and renamed only when complete; every input is checked before the long work starts.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import time
from typing import Callable

import jax
import numpy as np
from tqdm import tqdm

from diffdub_jax.data import audio, faces, masks, paste, pipeline, video
from diffdub_jax.inference.models import DubbingModels

REFERENCE_MODES = ("few_shot", "one_shot")
STAGES = ("load", "detect", "audio", "motion", "render", "paste", "encode")


class NoFaceError(ValueError):
    """No face was found in any frame of the source video."""


@dataclasses.dataclass
class DubResult:
    output: str
    num_frames: int
    fps: float
    width: int
    height: int
    frames_with_face: int
    timings: dict[str, float]

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


def _decode_to_memmap(path: str, info: video.VideoInfo, directory: str) -> np.ndarray:
    frames = np.lib.format.open_memmap(os.path.join(directory, "frames.npy"), mode="w+", dtype=np.uint8,
                                       shape=(info.num_frames, info.height, info.width, 3))
    count = 0
    for count, frame in enumerate(tqdm(video.read_frames(path, info), total=info.num_frames, desc="decode"), 1):
        frames[count - 1] = frame
    if count != info.num_frames:
        raise video.VideoError(f"{path}: decoded {count} frames, expected {info.num_frames}")
    return frames


def _reference_frames(found: np.ndarray, count: int, mode: str) -> np.ndarray:
    """Source frames whose latents are the references: the first `count` frames with a face
    (few-shot, the release's first 3 s; cycled if fewer), or the first one repeated (one-shot)."""
    with_face = np.flatnonzero(found)
    if mode == "one_shot":
        return np.repeat(with_face[:1], count)
    if mode == "few_shot":
        return np.resize(with_face, count)
    raise ValueError(f"unknown reference mode {mode!r}; choose one of {REFERENCE_MODES}")


def dub(video_path: str, output_path: str, renderer_workdir: str, motion_workdir: str, *,
        audio_path: str | None = None, mode: str = "few_shot", extend: str = "pingpong", face_index: int = 0,
        batch_size: int = 16, seed: int = 0, crop_scale: float = faces.CROP_SCALE,
        detector: faces.LandmarkDetector | None = None, models: DubbingModels | None = None,
        on_frame: Callable[[int, int, np.ndarray], None] | None = None) -> DubResult:
    """Re-renders the lower face of video_path so its lips follow audio_path (default: the video's
    own audio track) and writes output_path (h264 + aac mp4, source fps and resolution, the new
    audio's duration). crop_scale is the crop side over the face box's size: the authors' 1.6 by
    default; a renderer trained on other framing needs its own (the synthetic set's frames are the
    whole crop: 2.0). `models`, already loaded from the two workdirs, lets several dubs share one
    load and one compilation. on_frame(output_index, source_index, frame) observes each output frame."""
    if mode not in REFERENCE_MODES:
        raise ValueError(f"unknown reference mode {mode!r}; choose one of {REFERENCE_MODES}")
    video.check_output_path(output_path)
    info = video.probe_video(video_path)
    timer, tick = _Timer(), time.perf_counter()
    if audio_path is None:
        waveform, audio_source = video.extract_audio_track(video_path), video_path
    else:
        waveform, audio_source = audio.load_audio(audio_path), audio_path
    if len(waveform) == 0:
        raise audio.AudioError(f"{audio_source}: the audio is empty")
    num_output = max(1, int(round(len(waveform) / audio.SAMPLE_RATE * info.fps)))
    schedule = video.frame_schedule(info.num_frames, num_output, extend)
    if models is None:
        models = DubbingModels.load(renderer_workdir, motion_workdir, batch_size)
    size = models.image_size
    tick = timer.add("load", tick)

    with tempfile.TemporaryDirectory(prefix="diffdub_") as scratch:
        frames = _decode_to_memmap(video_path, info, scratch)
        track = faces.track_face(frames, detector, face_index=face_index, scale=crop_scale)
        if track.box is None or not track.found.any():
            raise NoFaceError(f"{video_path}: no face found in any of its {info.num_frames} frames")
        crops = np.lib.format.open_memmap(os.path.join(scratch, "crops.npy"), mode="w+", dtype=np.uint8,
                                          shape=(info.num_frames, size, size, 3))
        for index, frame in enumerate(frames):
            crops[index] = faces.crop_face(frame, track.box, size)
        landmarks = track.landmarks_at(size)
        tick = timer.add("detect", tick)

        features = models.audio_features(waveform, info.fps, num_output, audio_source)
        tick = timer.add("audio", tick)

        reference_indices = _reference_frames(track.found, models.num_reference_frames, mode)
        encoder_crops = np.stack([pipeline.to_unit_range(masks.encoder_crop(crops[i], landmarks[i], size))
                                  for i in reference_indices])
        latents = models.predict(features, models.encode(encoder_crops))
        reference_image = pipeline.to_unit_range(crops[reference_indices[0]])
        tick = timer.add("motion", tick)

        def mask_landmarks(source_frame: int) -> np.ndarray:
            """Landmarks of the frames with a face whose edit regions make this frame's mask."""
            nearby = np.arange(info.num_frames)[masks.window(source_frame, info.num_frames, models.mask_window)]
            return landmarks[nearby[track.found[nearby]]]

        x_T = np.asarray(jax.random.normal(jax.random.key(seed), (1, size, size, 3)))
        with video.VideoWriter(output_path, info.fps, audio_path=audio_source) as writer:
            for start in tqdm(range(0, num_output, batch_size), desc="render"):
                outputs = np.arange(start, min(start + batch_size, num_output))
                sources = schedule[outputs]
                with_face = track.found[sources]
                rendered, edit_regions = {}, {}
                if with_face.any():
                    chosen = sources[with_face]
                    edit = np.stack([masks.edit_mask(mask_landmarks(s), size, models.mask_dilation)
                                     for s in chosen]).astype(np.float32)
                    images = models.render(pipeline.to_unit_range(crops[chosen]), reference_image, edit[..., None],
                                           latents[outputs[with_face]], x_T)
                    rendered = dict(zip(outputs[with_face], np.clip(np.rint((images + 1) * 127.5), 0, 255).astype(np.uint8)))
                    edit_regions = dict(zip(outputs[with_face], edit))
                tick = timer.add("render", tick)
                composed = []
                for t, s in zip(outputs, sources):
                    frame = np.asarray(frames[s])
                    if t in rendered:
                        frame = paste.paste_face(frame, rendered[t], track.box, edit_regions[t])
                    composed.append(frame)
                    if on_frame is not None:
                        on_frame(int(t), int(s), frame)
                tick = timer.add("paste", tick)
                for frame in composed:
                    writer.write(frame)
                tick = timer.add("encode", tick)
        tick = timer.add("encode", tick)  # closing the writer muxes the audio
    return DubResult(output_path, num_output, info.fps, info.width, info.height,
                     int(track.found[schedule].sum()), {k: round(v, 3) for k, v in timer.seconds.items()})
