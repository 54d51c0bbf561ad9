"""One synthetic talking-face clip: an identity speaks, moves its head a little and blinks."""

from __future__ import annotations

import dataclasses
import io

import numpy as np
from PIL import Image

from tfds_builders.synthetic_talking_faces import face, speech

TEST_IDENTITY_OFFSET = 100_000  # test identity ids start here, so they can never meet train ids


@dataclasses.dataclass(frozen=True)
class ClipSpec:
    """What to generate; everything random is drawn from (seed, identity, clip)."""

    seed: int
    identity: int
    clip: int
    image_size: int
    min_seconds: float
    max_seconds: float
    fps: float = 25.0
    sample_rate: int = 16000
    supersample: int = 4


def identity_rng(seed: int, identity: int, stream: str) -> np.random.Generator:
    """Independent random streams per identity for its look and its voice."""
    return np.random.default_rng([seed, identity, {"appearance": 0, "voice": 1}[stream]])


def _smooth_motion(rng: np.random.Generator, t: np.ndarray, amplitude: float) -> np.ndarray:
    """A slow random wobble: three sinusoids of random frequency (0.05-0.6 Hz) and phase."""
    out = np.zeros_like(t)
    for _ in range(3):
        out += np.sin(2 * np.pi * rng.uniform(0.05, 0.6) * t + rng.uniform(0, 2 * np.pi))
    return amplitude * out / 3.0


def _blinks(rng: np.random.Generator, t: np.ndarray) -> np.ndarray:
    """Eye openness per frame: blinks at random times (about one per 3 s), independent of audio."""
    openness = np.ones_like(t)
    time = rng.uniform(0.3, 3.0)
    while time < t[-1] + 1:
        duration = rng.uniform(0.12, 0.25)
        phase = np.clip(np.abs(t - time - duration / 2) / (duration / 2), 0, 1)
        openness = np.minimum(openness, phase)
        time += duration + rng.exponential(3.0)
    return openness


def png_bytes(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="png", optimize=False, compress_level=1)
    return buffer.getvalue()


def generate_clip(spec: ClipSpec) -> dict:
    """Renders a clip into the dataset's example dict (frames as PNG bytes)."""
    identity = face.Identity.sample(identity_rng(spec.seed, spec.identity, "appearance"))
    voice = speech.Voice.sample(identity_rng(spec.seed, spec.identity, "voice"))
    # Separate streams: speech, head motion and blinks are drawn independently of each other.
    speech_rng, motion_rng, blink_rng = (
        np.random.default_rng([spec.seed, spec.identity, 2 + stream, spec.clip]) for stream in range(3))
    num_frames = int(round(speech_rng.uniform(spec.min_seconds, spec.max_seconds) * spec.fps))
    duration = num_frames / spec.fps
    utterance = speech.synthesise(speech_rng, voice, duration, spec.sample_rate)
    mouths = speech.frame_mouth_states(utterance, spec.fps, num_frames)

    t = np.arange(num_frames) / spec.fps
    xs = face.HeadPose.x + _smooth_motion(motion_rng, t, 0.03)
    ys = face.HeadPose.y + _smooth_motion(motion_rng, t, 0.02)
    scales = face.HeadPose.scale * (1.0 + _smooth_motion(motion_rng, t, 0.05))
    angles = _smooth_motion(motion_rng, t, np.deg2rad(7.0))
    light = motion_rng.uniform(-1, 1)
    background = face.background_image(
        face.make_background(identity, motion_rng, spec.image_size * spec.supersample))
    eyes = _blinks(blink_rng, t)

    images, landmarks = [], []
    for i in range(num_frames):
        pose = face.HeadPose(x=xs[i], y=ys[i], scale=scales[i], angle=angles[i])
        image, points = face.render(identity, background, pose, mouths[i], eyes[i],
                                    spec.image_size, spec.supersample, light)
        images.append(png_bytes(image))
        landmarks.append(points)
    waveform = np.round(utterance.waveform * 32767).astype(np.int16)
    return {
        "clip_id": f"id{spec.identity:06d}_clip{spec.clip:02d}",
        "identity": spec.identity,
        "fps": np.float32(spec.fps),
        "sample_rate": spec.sample_rate,
        "waveform": waveform,
        "frames": {
            "image": images,
            "landmarks": np.stack(landmarks).astype(np.float32),
            "mouth": mouths.astype(np.float32),
            "eye_openness": eyes.astype(np.float32),
        },
    }
