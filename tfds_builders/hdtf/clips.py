"""One HDTF clip -> dataset records: 25 fps face crops, smoothed landmarks, 16 kHz mono audio.

A clip is a span of a video file (the release's time stamps, or a whole already-cut clip). It is
read twice at most: once at 1 frame/s to place the face crop (unless the published window fits
the video), then at 25 fps for landmarks and crops. Frames are resampled by time stamp (ffmpeg's
fps filter), so a 29.97 or 30 fps source gives round(duration x 25) frames, none dropped in a
pattern. Long clips are split into segments of about `segment_frames` frames, each a record that
a training example reads on its own: stage 1 decodes only the PNGs of its frame pair, stage 2
takes its window and references from one segment. Each segment carries its audio plus up to
`audio_context` seconds on each side, so audio features near a cut see what a whole-clip pass sees.

Anything wrong with a source raises SkipClip with a reason for the build summary.
"""

from __future__ import annotations

import dataclasses
import io
import zlib

import numpy as np
from PIL import Image

from diffdub_jax.data import audio, faces, video
from diffdub_jax.data.pixels import rescale_points
from tfds_builders.hdtf import metadata

FPS = 25
LANDMARK_SIZE = faces.LANDMARK_SIZE


class SkipClip(Exception):
    """A clip that cannot be built; str(error) is the reason listed in the build summary."""


@dataclasses.dataclass(frozen=True)
class ClipSource:
    """Where a clip's frames are: `path` from `start` to `end` seconds (None: the file's end), with
    the published face window when there is one."""

    name: str
    path: str
    start: float = 0.0
    end: float | None = None
    window: metadata.Window | None = None

    @property
    def speaker(self) -> str:
        """The source video (`WDA_BernieSanders`): clips of one video share an identity."""
        return self.name.rsplit("_", 1)[0]


@dataclasses.dataclass(frozen=True)
class Framing:
    """How crops are made: output size, the recipe's crop scale, the segment length, audio context."""

    image_size: int = 256
    crop_scale: float = faces.CROP_SCALE
    segment_frames: int = 325
    audio_context: float = 3.0


def _published_box(window: metadata.Window, width: int, height: int) -> faces.CropBox:
    face = (window.x0, window.y0, window.x0 + window.width, window.y0 + window.height)
    return faces.square_crop(face, window.ratio, width, height)


def _crop_box(source: ClipSource, info: video.VideoInfo, duration: float, framing: Framing,
              detector: faces.LandmarkDetector) -> faces.CropBox:
    """The published window when the video has the height it was drawn for; otherwise the
    authors' recipe (median face box over 1 frame/s, x crop_scale), widened by the published
    zoom when there is one."""
    window = source.window
    if window is not None and window.resolution == info.height:
        return _published_box(window, info.width, info.height)
    scale = framing.crop_scale * (window.ratio if window is not None else 1.0)
    sampled = video.read_frames(source.path, info, fps=1, start=source.start, duration=duration)
    box = faces.fixed_crop_box(sampled, detector, scale=scale)
    if box is None:
        raise SkipClip("no face found")
    return box


def _png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG", compress_level=3)
    return buffer.getvalue()


def segment_bounds(num_frames: int, segment_frames: int) -> list[tuple[int, int]]:
    """[first, stop) of near-equal segments, each between segment_frames and twice that long
    (a clip shorter than segment_frames is one segment)."""
    count = max(1, num_frames // segment_frames)
    edges = np.linspace(0, num_frames, count + 1).round().astype(int)
    return list(zip(edges[:-1].tolist(), edges[1:].tolist()))


def speaker_id(speaker: str) -> int:
    """A stable int32 per source video (CRC-32 of its name), so clips of one person share it."""
    return zlib.crc32(speaker.encode()) & 0x7FFFFFFF


def build_clip(source: ClipSource, framing: Framing, detector: faces.LandmarkDetector) -> list[tuple[str, dict]]:
    """(key, example) for each segment of the clip; SkipClip says why a clip gives none."""
    try:
        info = video.probe_video(source.path)
    except video.VideoError as error:
        raise SkipClip(str(error)) from error
    if not info.has_audio:
        raise SkipClip("the video has no audio stream")
    end = info.duration if source.end is None else source.end
    if end > info.duration + 1.0 / info.fps:
        raise SkipClip(f"the video is {info.duration:.2f} s long; its time stamps end at {end:.2f} s")
    duration = end - source.start
    num_frames = int(round(duration * FPS))
    if num_frames < 2:
        raise SkipClip(f"{duration:.2f} s is too short for a clip")

    box = _crop_box(source, info, duration, framing, detector)
    size = framing.image_size
    images, landmarks = [], np.full((num_frames, faces.NUM_LANDMARKS, 2), np.nan, np.float32)
    try:
        for index, frame in enumerate(video.read_frames(source.path, info, fps=FPS, start=source.start,
                                                        duration=duration)):
            if index == num_frames:
                break
            points = faces.crop_landmarks(frame, box, detector, LANDMARK_SIZE)
            if points is not None:
                landmarks[index] = points
            images.append(_png(faces.crop_face(frame, box, size)))
    except video.VideoError as error:
        raise SkipClip(str(error)) from error
    if len(images) < num_frames:  # the last frame of a span can be missing; never more than one
        if num_frames - len(images) > 1 or not images:
            raise SkipClip(f"{len(images)} frames decoded of the {num_frames} its time stamps span")
        images.append(images[-1])
        landmarks[len(images) - 1] = landmarks[len(images) - 2]
    found = ~np.isnan(landmarks).any(axis=(1, 2))
    if not found.any():
        raise SkipClip("no face found in any frame")
    landmarks = faces.smooth_landmarks(landmarks, found)
    landmarks = rescale_points(landmarks[faces.nearest_found(found)], box.side, size)  # missing: the nearest found

    before = min(framing.audio_context, source.start)
    try:
        waveform = audio.load_audio(source.path, audio.SAMPLE_RATE, start=source.start - before,
                                    duration=duration + before + framing.audio_context)
    except audio.AudioError as error:
        raise SkipClip(str(error)) from error
    waveform = np.clip(np.round(waveform * 32767.0), -32768, 32767).astype(np.int16)
    samples_per_frame = audio.SAMPLE_RATE // FPS
    origin = int(round(before * audio.SAMPLE_RATE))  # sample of frame 0
    context = int(round(framing.audio_context * audio.SAMPLE_RATE))

    records = []
    for segment, (first, stop) in enumerate(segment_bounds(num_frames, framing.segment_frames)):
        low = max(0, origin + first * samples_per_frame - context)
        high = origin + stop * samples_per_frame + context
        records.append((f"{source.name}/{segment:03d}", {
            "clip_id": source.name,
            "segment": segment,
            "first_frame": first,
            "clip_frames": num_frames,
            "identity": speaker_id(source.speaker),
            "fps": float(FPS),
            "sample_rate": audio.SAMPLE_RATE,
            "waveform": waveform[low:high],
            "waveform_offset": origin + first * samples_per_frame - low,
            "crop_box": np.array([box.x0, box.y0, box.side], np.int32),
            "frames": {
                "image": images[first:stop],
                "landmarks": landmarks[first:stop],
                "face_found": found[first:stop],
            },
        }))
    return records
