"""A tiny fake HDTF manual-download directory made from real faces, for tests of the HDTF builder.

Why real faces: the builder finds faces with dlib, so synthetic blobs would test nothing. The faces
are scikit-image's astronaut photo (also mirrored and colour-shifted, as a second "person") and one
face of `skimage.data.lfw_subset()` upscaled from 25x25 to ~100 px; dlib's HOG detector
(`diffdub_jax.data.faces.DlibDetector`) finds all three in every frame at 80-140 px faces.

Why quirky metadata: HDTF's `HDTF_dataset/*.txt` files are hand-made. `write_hdtf_release` writes all
15 files in the published format with a UTF-8 BOM, CRLF line ends, trailing spaces, a malformed
line and a clip that has time stamps but no crop window, plus source videos in both naming forms
users have (`<G>_<Name>.mp4` at the root, `<G>/<Name>.mp4`), one missing, one corrupt and one
without a face. `write_cut_clips` writes the other form users have: already-cut clips.

Videos are written by the ffmpeg binary of imageio-ffmpeg (H.264 ultrafast, AAC) at an exact,
possibly fractional rate, with espeak-ng speech resampled to the asked rate and made stereo.
Everything is small so that the whole fixture writes in a few seconds on two cores.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import math
import os
import subprocess
import tempfile
import time
import wave
from fractions import Fraction
from typing import Iterable, Sequence

import imageio_ffmpeg
import numpy as np
from PIL import Image
from scipy.signal import resample_poly

FACES = ("astronaut", "astronaut_mirror", "lfw")
DEFAULT_TEXT = "the quick brown fox jumps over the lazy dog while we dub this talking face"
DEFAULT_TEST_CLIPS = ("WDA_BernieSanders_000", "RD_Radio51_000", "WRA_MikeEnzi_000")
NTSC = Fraction(30000, 1001)
_SKIP_REASONS = {"missing": "missing source video", "corrupt": "corrupt video", "faceless": "no face"}

# Face boxes (x0, y0, x1, y1) found by DlibDetector (HOG) in the untouched pictures; the drawn
# face's box in a frame is this box moved, scaled and rotated (about its centre) with the picture.
_ASTRONAUT_BOX = (179.0, 83.0, 266.0, 170.0)  # in skimage.data.astronaut(), 512x512
_ASTRONAUT_SIDE = 2.2  # the sprite is a square of this many face widths around the face
_LFW_INDEX = 63  # of lfw_subset()'s 100 faces, the one found most surely when tilted +-4 deg
_LFW_SIDE = 120  # the 25x25 face is upscaled to this square (bicubic)
_LFW_BOX = (-8.0, 4.0, 96.0, 108.0)  # dlib HOG box on that square: wider than the crop shows


Size = tuple[int, int]
Box = tuple[float, float, float, float]


def _ffmpeg() -> str:
    return imageio_ffmpeg.get_ffmpeg_exe()


def _rate(fps: float | Fraction | str) -> Fraction:
    """Exact rate: 29.97, '29.97' and '30000/1001' all mean 30000/1001 (and 59.94, 23.976 alike),
    as every NTSC camera means them."""
    rate = Fraction(fps) if not isinstance(fps, float) else Fraction(fps).limit_denominator(1001)
    if rate <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    ntsc = round(rate * Fraction(1001, 1000))
    if rate.denominator != 1 and abs(rate * Fraction(1001, 1000) - ntsc) < Fraction(1, 100):
        return Fraction(ntsc * 1000, 1001)
    return rate


# --------------------------------------------------------------------------------------------
# Faces: an RGBA sprite and the face box inside it.

@functools.lru_cache(maxsize=None)
def _sprite(face: str) -> tuple[Image.Image, Box]:
    """(RGBA sprite, face box in sprite pixels) of one identity; cached (skimage loads once)."""
    from skimage import data  # pylint: disable=import-outside-toplevel

    if face not in FACES:
        raise ValueError(f"face must be one of {FACES}, got {face!r}")
    if face == "lfw":
        gray = (np.clip(data.lfw_subset()[_LFW_INDEX], 0, 1) * 255).astype(np.uint8)
        big = np.asarray(Image.fromarray(gray).resize((_LFW_SIDE, _LFW_SIDE), Image.BICUBIC), np.float32)
        rgb = np.stack([big * 1.0, big * 0.88, big * 0.78], -1)  # a skin tint; HOG sees the gradients
        alpha = np.full(big.shape, 255.0, np.float32)  # hard edges: the face fills the whole picture
        return Image.fromarray(np.dstack([rgb, alpha]).clip(0, 255).astype(np.uint8), "RGBA"), _LFW_BOX
    photo = data.astronaut().astype(np.float32)
    x0, y0, x1, y1 = _ASTRONAUT_BOX
    cx, cy, half = (x0 + x1) / 2, (y0 + y1) / 2, _ASTRONAUT_SIDE * (x1 - x0) / 2
    left, top = int(round(cx - half)), int(round(cy - half))
    side = int(round(2 * half))
    rgb = photo[top:top + side, left:left + side]
    box = (x0 - left, y0 - top, x1 - left, y1 - top)
    # A feathered ellipse keeps the head, hair and some of the suit: context HOG needs.
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32)
    r = np.sqrt(((xx - side / 2) / (0.49 * side)) ** 2 + ((yy - side / 2) / (0.52 * side)) ** 2)
    alpha = np.clip((1.0 - r) / 0.12, 0, 1) * 255
    if face == "astronaut_mirror":
        rgb = rgb[:, ::-1] * np.array([0.8, 0.95, 1.15], np.float32) + np.array([0, 8, 12], np.float32)
        box = (side - box[2], box[1], side - box[0], box[3])
    return Image.fromarray(np.dstack([rgb, alpha]).clip(0, 255).astype(np.uint8), "RGBA"), box


def _motion(num_frames: int, fps: Fraction, seed: int, amount: float) -> np.ndarray:
    """(num_frames, 4): dx, dy (as fractions of the face size), scale, angle (degrees) per frame.

    Sums of two slow sines with seeded phases: smooth like a head, yet different in every frame."""
    rng = np.random.default_rng(seed)
    t = np.arange(num_frames, dtype=np.float64) / float(fps)
    out = np.zeros((num_frames, 4))
    amplitude = np.array([0.10, 0.06, 0.05, 4.0]) * amount
    for j in range(4):
        periods = rng.uniform(1.1, 2.9, 2)
        phases = rng.uniform(0, 2 * np.pi, 2)
        wave_sum = sum(np.sin(2 * np.pi * t / p + ph) for p, ph in zip(periods, phases)) / 2
        out[:, j] = amplitude[j] * wave_sum
    out[:, 2] += 1.0
    return out


def _background(size: Size, seed: int, kind: str) -> Image.Image:
    """A static studio-like backdrop: a colour gradient, with mild noise if kind == 'noise'."""
    width, height = size
    rng = np.random.default_rng(seed + 1000)
    top, bottom = rng.uniform(40, 200, 3), rng.uniform(40, 200, 3)
    ramp = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
    frame = np.broadcast_to(top * (1 - ramp) + bottom * ramp, (height, width, 3)).astype(np.float32)
    if kind == "noise":
        frame = frame + rng.normal(0, 6, (height, width, 3))
    elif kind != "plain":
        raise ValueError(f"background must be 'plain' or 'noise', got {kind!r}")
    return Image.fromarray(frame.clip(0, 255).astype(np.uint8), "RGB")


def _draw(background: Image.Image, sprite: Image.Image, sprite_box: Box, centre: tuple[float, float],
          scale: float, angle: float) -> tuple[Image.Image, Box]:
    """The sprite scaled by `scale` and rotated by `angle` about its face's centre, which lands on
    `centre` (frame pixels); returns the frame and the face box there (axis-aligned, same size
    as the scaled box: a few degrees of tilt do not change what a detector boxes)."""
    fx, fy = (sprite_box[0] + sprite_box[2]) / 2, (sprite_box[1] + sprite_box[3]) / 2
    cos, sin = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    # Where the sprite's corners land, to paste only the patch that changes.
    w, h = sprite.size
    corners = np.array([[0, 0], [w, 0], [0, h], [w, h]], np.float64) - (fx, fy)
    rot = np.array([[cos, -sin], [sin, cos]]) * scale
    landed = corners @ rot.T + centre
    width, height = background.size
    px0, py0 = np.floor(landed.min(0)).astype(int)
    px1, py1 = np.ceil(landed.max(0)).astype(int)
    px0, py0, px1, py1 = max(px0, 0), max(py0, 0), min(px1, width), min(py1, height)
    frame = background.copy()
    if px1 > px0 and py1 > py0:
        # PIL's affine maps output pixel (x, y) to input (a x + b y + c, d x + e y + f): the inverse.
        inv = np.array([[cos, sin], [-sin, cos]]) / scale
        offset = np.array([fx, fy]) - inv @ (np.array(centre) - (px0, py0))
        coeffs = (inv[0, 0], inv[0, 1], offset[0], inv[1, 0], inv[1, 1], offset[1])
        patch = sprite.transform((px1 - px0, py1 - py0), Image.AFFINE, coeffs, resample=Image.BILINEAR)
        frame.paste(patch, (int(px0), int(py0)), patch)  # alpha-blended in C
    half_w = scale * (sprite_box[2] - sprite_box[0]) / 2
    half_h = scale * (sprite_box[3] - sprite_box[1]) / 2
    box = (centre[0] - half_w, centre[1] - half_h, centre[0] + half_w, centre[1] + half_h)
    return frame, box


# --------------------------------------------------------------------------------------------
# Audio: espeak-ng speech placed in talking segments, resampled, stereo.

@functools.lru_cache(maxsize=16)
def _speech(text: str) -> tuple[np.ndarray, int]:
    """espeak-ng's rendering of text (float32 mono, its 22.05 kHz); cached, as espeak takes ~0.1 s."""
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "speech.wav")
        subprocess.run(["espeak-ng", "-w", path, text], check=True, capture_output=True)
        with wave.open(path, "rb") as handle:
            rate, channels = handle.getframerate(), handle.getnchannels()
            samples = np.frombuffer(handle.readframes(handle.getnframes()), np.int16)
    samples = samples.reshape(-1, channels).mean(1).astype(np.float32)
    return 0.5 * samples / max(float(np.abs(samples).max()), 1.0), rate  # peak at -6 dBFS: no clipping


def _soundtrack(duration: float, rate: int, stereo: bool, text: str,
                segments: Sequence[tuple[float, float]], seed: int) -> np.ndarray:
    """(samples, channels) float32: speech looped inside each segment, near-silence elsewhere.

    The right channel is the left one delayed by two samples, 15 % quieter and with its own faint
    noise: a real stereo pair (correlation ~0.95), yet a builder that keeps one channel and one
    that averages both give different samples."""
    speech, speech_rate = _speech(text)
    if speech_rate != rate:
        g = math.gcd(rate, speech_rate)
        speech = resample_poly(speech, rate // g, speech_rate // g).astype(np.float32)
    rng = np.random.default_rng(seed + 2000)
    total = int(round(duration * rate))
    left = rng.normal(0, 3e-4, total).astype(np.float32)
    pause = np.zeros(int(0.15 * rate), np.float32)
    looped = np.concatenate([speech, pause])
    for start, end in segments:
        a, b = int(round(start * rate)), min(int(round(end * rate)), total)
        if b > a:
            repeats = -(-(b - a) // len(looped))
            left[a:b] += np.tile(looped, repeats)[: b - a]
    if not stereo:
        return left[:, None]
    delay = 2
    right = 0.85 * np.concatenate([np.zeros(delay, np.float32), left[:-delay]])
    right = right + rng.normal(0, 3e-4, total).astype(np.float32)
    return np.stack([left, right], 1)


def _write_wav(path: str, samples: np.ndarray, rate: int) -> None:
    pcm = (np.clip(samples, -1, 1) * 32767).round().astype("<i2")
    with wave.open(path, "wb") as handle:
        handle.setnchannels(samples.shape[1])
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes(pcm.tobytes())


# --------------------------------------------------------------------------------------------
# Video writing.

def _encode(path: str, frames: Iterable[np.ndarray | Image.Image], size: Size, fps: Fraction,
            audio: np.ndarray | None, audio_rate: int, crf: int = 28) -> None:
    """Pipes RGB frames into ffmpeg (libx264 ultrafast, yuv420p) and muxes the audio as AAC, in
    one pass; frames is an iterable, so memory stays at one frame even at 1280x720."""
    width, height = size
    with tempfile.TemporaryDirectory() as folder:  # not next to path: the release folder stays clean
        command = [_ffmpeg(), "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
                   "-s", f"{width}x{height}", "-framerate", str(fps), "-i", "-"]
        if audio is not None:
            wav = os.path.join(folder, "audio.wav")
            _write_wav(wav, audio, audio_rate)
            # aac_coder fast: the default coder takes 0.4 s for 7 s of stereo, most of a small video's cost.
            command += ["-i", wav, "-map", "0:v:0", "-map", "1:a:0", "-c:a", "aac", "-aac_coder", "fast",
                        "-b:a", "96k", "-ar", str(audio_rate), "-ac", str(audio.shape[1])]
        command += ["-c:v", "libx264", "-preset", "ultrafast", "-crf", str(crf), "-pix_fmt", "yuv420p",
                    "-r", str(fps), "-movflags", "+faststart", "-f", "mp4", path]
        with tempfile.TemporaryFile() as stderr:
            process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=stderr)
            try:
                for frame in frames:
                    if not isinstance(frame, Image.Image):
                        frame = np.ascontiguousarray(frame, np.uint8)
                    process.stdin.write(frame.tobytes())
                process.stdin.close()
            except BrokenPipeError:
                pass  # ffmpeg quit; its status and log below say why
            if process.wait() != 0:
                stderr.seek(0)
                raise RuntimeError(f"ffmpeg failed writing {path}: {stderr.read().decode(errors='replace')}")


def _check_size(size: Size) -> tuple[int, int]:
    width, height = (int(v) for v in size)
    if width % 2 or height % 2 or width < 16 or height < 16:
        raise ValueError(f"size must be even and at least 16x16 (H.264 yuv420p), got {size}")
    return width, height


def talking_video(path: str, seconds: float, fps: float | Fraction | str = 30, size: Size = (320, 240),
                  face: str = "astronaut", motion_seed: int = 0, audio: bool = True, audio_rate: int = 44100,
                  stereo: bool = True, speech_text: str = DEFAULT_TEXT, *, face_size: float | None = None,
                  centre: tuple[float, float] = (0.5, 0.47), motion: float = 1.0, background: str = "noise",
                  speech_segments: Sequence[tuple[float, float]] | None = None) -> dict:
    """Writes an mp4 of a real face that moves, scales and tilts a little every frame, with speech.

    Why: the HDTF builder detects, crops and resamples faces; a moving real face tells whether the
    crop follows it and whether frames and audio stay aligned across rates.

    seconds * fps is rounded to whole frames; fps may be fractional (30000/1001, "29.97", 29.97 all
    give 30000/1001). face: one of FACES. face_size: face box width in pixels (default 40 % of the
    short side, kept in 80..140, where HOG finds faces without upsampling). centre: the face's
    mean centre as fractions of width and height. motion: 0 freezes the face, 1 moves it by about
    +-10 % of its size, scales it by +-5 % and tilts it by +-4 degrees. speech_segments: (start,
    end) seconds where speech plays (looped); elsewhere near-silence; default the whole video.

    Returns {'path', 'fps' (float), 'fps_exact' (Fraction), 'num_frames', 'duration' (frames / fps),
    'width', 'height', 'face', 'boxes' ((num_frames, 4) float x0, y0, x1, y1 of the drawn face),
    'audio_rate', 'channels' (0 without audio), 'speech_segments', 'write_seconds'}.
    """
    began = time.perf_counter()
    width, height = _check_size(size)
    rate = _rate(fps)
    num_frames = max(1, int(round(seconds * rate)))
    duration = num_frames / rate
    sprite, sprite_box = _sprite(face)
    if face_size is None:
        face_size = min(140.0, max(80.0, 0.4 * min(width, height)))
    base_scale = face_size / (sprite_box[2] - sprite_box[0])
    moves = _motion(num_frames, rate, motion_seed, motion)
    back = _background((width, height), motion_seed, background)
    boxes = np.zeros((num_frames, 4), np.float64)

    def frames():
        for i, (dx, dy, scale, angle) in enumerate(moves):
            point = (centre[0] * width + dx * face_size, centre[1] * height + dy * face_size)
            frame, box = _draw(back, sprite, sprite_box, point, base_scale * scale, angle)
            boxes[i] = box
            yield frame

    segments = ([(0.0, float(duration))] if speech_segments is None
                else [(float(a), float(b)) for a, b in speech_segments])
    track = None
    if audio:
        track = _soundtrack(float(duration), audio_rate, stereo, speech_text, segments, motion_seed)
    _encode(path, frames(), (width, height), rate, track, audio_rate)
    return {"path": path, "fps": float(rate), "fps_exact": rate, "num_frames": num_frames,
            "duration": float(duration), "width": width, "height": height, "face": face, "boxes": boxes,
            "audio_rate": audio_rate if audio else 0, "channels": (2 if stereo else 1) if audio else 0,
            "speech_segments": segments if audio else [], "write_seconds": time.perf_counter() - began}


def faceless_video(path: str, seconds: float, fps: float | Fraction | str = 30, size: Size = (320, 240),
                   seed: int = 0, audio: bool = True, audio_rate: int = 44100, stereo: bool = True,
                   speech_text: str = DEFAULT_TEXT) -> dict:
    """Writes an mp4 with speech but no face: drifting colour gradients and soft blobs.

    Why: HDTF has clips where the face leaves the frame or the window misses it; the builder must
    skip (and report) them, not emit empty crops. Returns the same keys as talking_video, with
    'face' None and 'boxes' empty."""
    began = time.perf_counter()
    width, height = _check_size(size)
    rate = _rate(fps)
    num_frames = max(1, int(round(seconds * rate)))
    duration = num_frames / rate
    rng = np.random.default_rng(seed + 3000)
    small_w, small_h = max(4, width // 4), max(4, height // 4)  # drawn small, upscaled: smooth and fast
    yy, xx = np.mgrid[0:small_h, 0:small_w].astype(np.float32)
    colours = rng.uniform(30, 220, (3, 3)).astype(np.float32)
    blobs = rng.uniform(0, 1, (3, 4))

    def frames():
        for i in range(num_frames):
            t = i / float(rate)
            ramp = (xx / small_w * math.cos(t) + yy / small_h * math.sin(0.7 * t)) * 0.5 + 0.5
            frame = colours[0] * ramp[..., None] + colours[1] * (1 - ramp[..., None])
            for bx, by, br, speed in blobs:
                cx = (bx + 0.1 * math.sin(t * (1 + speed))) * small_w
                cy = (by + 0.1 * math.cos(t * (1 + speed))) * small_h
                weight = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * (5 + 10 * br) ** 2))
                frame = frame * (1 - weight[..., None]) + colours[2] * weight[..., None]
            yield Image.fromarray(frame.clip(0, 255).astype(np.uint8), "RGB").resize((width, height),
                                                                                      Image.BILINEAR)

    track = (_soundtrack(float(duration), audio_rate, stereo, speech_text, [(0.0, float(duration))], seed)
             if audio else None)
    _encode(path, frames(), (width, height), rate, track, audio_rate)
    return {"path": path, "fps": float(rate), "fps_exact": rate, "num_frames": num_frames,
            "duration": float(duration), "width": width, "height": height, "face": None,
            "boxes": np.zeros((0, 4)), "audio_rate": audio_rate if audio else 0,
            "channels": (2 if stereo else 1) if audio else 0, "speech_segments": [],
            "write_seconds": time.perf_counter() - began}


def corrupt_video(path: str, seed: int = 0) -> dict:
    """Writes bytes that are not a video under an .mp4 name: an mp4 `ftyp` box, then junk.

    Why: interrupted downloads look like this; the builder must report the file, not crash.
    ffmpeg fails on it ("moov atom not found" / invalid data)."""
    junk = np.random.default_rng(seed + 4000).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    with open(path, "wb") as handle:
        handle.write(b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + junk)
    return {"path": path, "corrupt": True}


# --------------------------------------------------------------------------------------------
# The release layout.

def _stamp(value: float) -> str:
    """Seconds -> the published 'mm:ss' (whole seconds, as in HDTF's files)."""
    whole = int(round(value))
    if abs(value - whole) > 1e-9:
        raise ValueError(f"HDTF's time stamps are whole seconds; got {value}")
    return f"{whole // 60:02d}:{whole % 60:02d}"


def _window(boxes: np.ndarray, size: Size, margin: float) -> tuple[Box, tuple[int, int, int, int]]:
    """(union of the face boxes, square window of side margin * its larger side around it, moved
    inside the frame) in frame pixels; the window is (x0, y0, side, side)."""
    width, height = size
    union = (*(float(v) for v in boxes[:, :2].min(0)), *(float(v) for v in boxes[:, 2:].max(0)))
    side = min(margin * max(union[2] - union[0], union[3] - union[1]), width, height)
    cx, cy = (union[0] + union[2]) / 2, (union[1] + union[3]) / 2
    x0 = min(max(cx - side / 2, 0), width - side)
    y0 = min(max(cy - side / 2, 0), height - side)
    return union, (int(round(x0)), int(round(y0)), int(round(side)), int(round(side)))


def _frames_of(start: float, end: float, fps: Fraction) -> slice:
    """Source frames shown during [start, end): frame i shows time i / fps."""
    return slice(math.ceil(start * fps), math.ceil(end * fps))


def _fake_id(name: str) -> str:
    """A stable, made-up 11-character YouTube id."""
    return base64.urlsafe_b64encode(hashlib.sha1(name.encode()).digest()).decode()[:11]


def write_hdtf_release(root: str, *, small_size: Size = (320, 240), segment_seconds: int = 2,
                       hd_size: Size | None = (1280, 720), hd_segment_seconds: int = 1,
                       test_clips: Sequence[str] = DEFAULT_TEST_CLIPS, speech_text: str = DEFAULT_TEXT,
                       window_margin: float = 1.6) -> dict:
    """Writes `root/HDTF_dataset/` (all 15 metadata files, published format and quirks) and the
    source videos, in both naming forms, as a user who downloaded HDTF would have them.

    Why: the builder's whole job is joining hand-made metadata with whatever the user downloaded;
    this is every case it must handle, at a size that writes in a few seconds.

    Videos (segments are whole seconds, as published; each has a 1 s non-talking lead-in, two
    talking segments 1 s apart (MikeEnzi's touch), and ends 0.5 s after the second; the faceless
    video's segments are 1 s, as its clips are skipped anyway):
      RD  Radio51        root  `RD_Radio51.mp4`     30 fps    small_size, resolution.txt 720  astronaut
      RD  Radio10        listed, not on disk
      RD  Broken         annotation line `Broken.mp4 00:05-` (malformed; no clip)
      WDA BernieSanders  `WDA/BernieSanders.mp4`    29.97 fps small_size, 1080   LFW face; clip 1 has
                         time stamps but no crop_wh / crop_ratio line
      WDA JaneDoe        `WDA/JaneDoe.mp4`          corrupt bytes
      WRA MikeEnzi       root  `WRA_MikeEnzi.mp4`   25 fps    hd_size (its height is the resolution.txt entry),
                         mirrored astronaut off-centre, hd_segment_seconds segments, adjacent
      WRA JohnDoe        `WRA/JohnDoe.mp4`          29.97 fps, no face
    All sound tracks are 44.1 kHz stereo. Crop windows are computed from where the face is drawn
    (a square of window_margin x the face's extent over the clip), scaled to the annotated
    resolution, so the window at the file's size contains the face all through the clip.
    hd_size=None writes MikeEnzi at small_size too (saves ~1 s; then no file is at its annotated
    resolution). Quirks: UTF-8 BOM on RD_annotion_time.txt and WRA_crop_wh.txt, CRLF line ends in
    WDA_annotion_time.txt, trailing spaces/tabs on lines of RD_crop_wh.txt, RD_resolution.txt and
    WDA_crop_ratio.txt, a blank line in WRA_video_url.txt.

    Returns {'root', 'metadata_dir', 'clips': {clip name: facts}, 'expected_clips' (sorted names a
    correct builder emits), 'test_clips', 'train_clips', 'skipped' ({clip: reason}),
    'malformed_lines' (['RD_annotion_time.txt:<line>']), 'no_window' (clips without crop_wh),
    'videos' ({'<G>_<Name>': talking_video's dict, or {'missing'/'corrupt': True}}), 'write_seconds'}.
    Per clip facts: group, video, index, start, end, duration (segment length, s), fps (source,
    float), fps_exact (Fraction), source (path or None), size, resolution, window_annotated
    (x0, y0, w, h in published units or None), window_pixels (same at the file's size or None),
    ratio, face_union (x0, y0, x1, y1 of the face over the clip, file pixels), face, test,
    expected ('ok' or 'skip'), skip_reason ('missing source video' | 'corrupt video' | 'no face'
    | None), audio_rate, channels.
    """
    began = time.perf_counter()
    meta = os.path.join(root, "HDTF_dataset")
    os.makedirs(meta, exist_ok=True)
    for group in ("WDA", "WRA"):
        os.makedirs(os.path.join(root, group), exist_ok=True)
    seg, hd_seg = int(segment_seconds), int(hd_segment_seconds)
    hd_resolution = 720 if hd_size is None else hd_size[1]  # None: the file is not at its annotated height
    hd_size = small_size if hd_size is None else hd_size

    def layout(length: int, gap: int = 1) -> list[tuple[float, float]]:
        return [(1.0, 1.0 + length), (1.0 + length + gap, 1.0 + 2 * length + gap)]

    # (group, name, on-disk form, kind, fps, size, resolution, face, centre, seed, ratios, segments)
    specs = [
        ("RD", "Radio51", "root", "face", Fraction(30), small_size, 720, "astronaut", (0.5, 0.47), 1,
         (1.2, 1.25), layout(seg)),
        ("RD", "Radio10", "root", "missing", Fraction(30), small_size, 720, None, None, 2,
         (1.2, 1.2), layout(seg)),
        ("WDA", "BernieSanders", "folder", "face", NTSC, small_size, 1080, "lfw", (0.5, 0.5), 3,
         (1.2, None), layout(seg)),
        ("WDA", "JaneDoe", "folder", "corrupt", NTSC, small_size, 1080, None, None, 4, (1.25, 1.25), layout(seg)),
        ("WRA", "MikeEnzi", "root", "face", Fraction(25), hd_size, hd_resolution, "astronaut_mirror", (0.62, 0.42), 5,
         (1.2, 1.2), layout(hd_seg, 0)),
        ("WRA", "JohnDoe", "folder", "faceless", NTSC, small_size, 720, None, None, 6, (1.2, 1.2), layout(1)),
    ]
    kinds = ("video_url", "annotion_time", "crop_wh", "crop_ratio", "resolution")
    lines: dict[str, list[str]] = {f"{g}_{kind}": [] for g in ("RD", "WDA", "WRA") for kind in kinds}
    clips, videos, skipped, no_window = {}, {}, {}, []
    tests = set(test_clips)
    for group, name, form, kind, fps, size, resolution, face, centre, seed, ratios, segments in specs:
        path = (os.path.join(root, f"{group}_{name}.mp4") if form == "root"
                else os.path.join(root, group, f"{name}.mp4"))
        length = segments[-1][1] + 0.5  # half a second after the last segment
        key = f"{group}_{name}"
        if kind == "face":
            info = talking_video(path, length, fps, size, face=face, motion_seed=seed, audio_rate=44100,
                                 stereo=True, speech_text=speech_text, centre=centre, speech_segments=segments)
        elif kind == "faceless":
            info = faceless_video(path, length, fps, size, seed=seed, audio_rate=44100, stereo=True,
                                  speech_text=speech_text)
        elif kind == "corrupt":
            info = corrupt_video(path, seed)
        else:
            info = {"path": None, "missing": True}
        videos[key] = info
        reason = _SKIP_REASONS.get(kind)
        lines[f"{group}_video_url"].append(f"{name}.mp4 https://www.youtube.com/watch?v={_fake_id(key)}")
        lines[f"{group}_annotion_time"].append(
            f"{name}.mp4 " + " ".join(f"{_stamp(a)}-{_stamp(b)}" for a, b in segments))
        lines[f"{group}_resolution"].append(f"{name}.mp4 {resolution}")
        height = size[1]
        for index, (start, end) in enumerate(segments):
            clip = f"{key}_{index:03d}"
            span = _frames_of(start, end, fps)
            if kind == "face":
                union, window = _window(info["boxes"][span], size, window_margin)
            else:  # no face drawn: a plausible centred window, as the metadata would still have
                union, side = None, int(0.6 * height)
                window = ((size[0] - side) // 2, (height - side) // 2, side, side)
            factor = resolution / height
            annotated = tuple(int(round(v * factor)) for v in window)
            ratio = ratios[index]
            if ratio is None:  # time stamps but no window: the builder must find the face itself
                annotated = window = None
                no_window.append(clip)
            else:
                x0, y0, w, h = annotated
                lines[f"{group}_crop_wh"].append(f"{name}_{index}.mp4 {x0} {w} {y0} {h}")
                lines[f"{group}_crop_ratio"].append(f"{name}_{index}.mp4 {ratio}")
            if reason:
                skipped[clip] = reason
            clips[clip] = {
                "group": group, "video": name, "index": index, "start": start, "end": end,
                "duration": end - start, "fps": float(fps), "fps_exact": fps,
                "source": None if kind == "missing" else path, "size": tuple(size), "resolution": resolution,
                "window_annotated": annotated, "window_pixels": window, "ratio": ratio, "face_union": union,
                "face": face, "test": clip in tests, "expected": "skip" if reason else "ok",
                "skip_reason": reason, "audio_rate": 44100 if kind in ("face", "faceless") else None,
                "channels": 2 if kind in ("face", "faceless") else None}

    # The malformed line, after Radio10 (line 3 of RD_annotion_time.txt).
    lines["RD_video_url"].append(f"Broken.mp4 https://www.youtube.com/watch?v={_fake_id('RD_Broken')}")
    lines["RD_annotion_time"].append("Broken.mp4 00:05-")
    malformed = [f"RD_annotion_time.txt:{len(lines['RD_annotion_time'])}"]
    # Trailing whitespace, as hand-edited files have.
    lines["RD_crop_wh"] = [line + "  " for line in lines["RD_crop_wh"]]
    lines["RD_resolution"][0] += " \t"
    lines["WDA_crop_ratio"][0] += " "
    lines["WRA_video_url"].insert(1, "")
    for stem, content in lines.items():
        newline = "\r\n" if stem == "WDA_annotion_time" else "\n"
        text = newline.join(content) + newline
        data = text.encode("utf-8")
        if stem in ("RD_annotion_time", "WRA_crop_wh"):
            data = b"\xef\xbb\xbf" + data
        with open(os.path.join(meta, f"{stem}.txt"), "wb") as handle:
            handle.write(data)

    expected = sorted(c for c, facts in clips.items() if facts["expected"] == "ok")
    return {"root": root, "metadata_dir": meta, "clips": clips, "expected_clips": expected,
            "test_clips": sorted(c for c in expected if clips[c]["test"]),
            "train_clips": sorted(c for c in expected if not clips[c]["test"]),
            "skipped": skipped, "malformed_lines": malformed, "no_window": no_window, "videos": videos,
            "write_seconds": time.perf_counter() - began}


def write_cut_clips(root: str, *, size: Size = (256, 192), seconds: float = 1.5,
                    test_clips: Sequence[str] = DEFAULT_TEST_CLIPS, speech_text: str = DEFAULT_TEXT) -> dict:
    """Writes the other form users have: already-cut clips `<G>_<Name>_<k:03d>.mp4` in one folder.

    Why: many HDTF copies circulate pre-cut, at any rate and sound format; the builder must take
    them as they are. Clips (each `seconds` long, talking throughout):
      WDA_BernieSanders_000  29.97 fps, 44.1 kHz stereo, astronaut     (test list)
      RD_Radio11_000         30 fps,    44.1 kHz stereo, LFW face
      WRA_JaneDoe_001        25 fps,    22.05 kHz mono,  mirrored astronaut
      WRA_JohnDoe_000        30 fps,    44.1 kHz stereo, no face     -> skip ('no face')
      RD_Broken_000          corrupt bytes                          -> skip ('corrupt video')

    Returns {'root', 'clips': {name: facts}, 'expected_clips', 'test_clips', 'train_clips',
    'skipped', 'write_seconds'}; facts: path, group, video, index, duration (frames / fps), fps,
    fps_exact, num_frames, size, face, boxes (per frame), audio_rate, channels, test, expected,
    skip_reason.
    """
    began = time.perf_counter()
    os.makedirs(root, exist_ok=True)
    specs = [
        ("WDA", "BernieSanders", 0, "face", NTSC, 44100, True, "astronaut"),
        ("RD", "Radio11", 0, "face", Fraction(30), 44100, True, "lfw"),
        ("WRA", "JaneDoe", 1, "face", Fraction(25), 22050, False, "astronaut_mirror"),
        ("WRA", "JohnDoe", 0, "faceless", Fraction(30), 44100, True, None),
        ("RD", "Broken", 0, "corrupt", Fraction(30), None, None, None),
    ]
    tests = set(test_clips)
    clips, skipped = {}, {}
    for seed, (group, name, index, kind, fps, rate, stereo, face) in enumerate(specs):
        clip = f"{group}_{name}_{index:03d}"
        path = os.path.join(root, f"{clip}.mp4")
        if kind == "face":
            info = talking_video(path, seconds, fps, size, face=face, motion_seed=10 + seed, audio_rate=rate,
                                 stereo=stereo, speech_text=speech_text)
        elif kind == "faceless":
            info = faceless_video(path, seconds, fps, size, seed=10 + seed, audio_rate=rate, stereo=stereo,
                                  speech_text=speech_text)
        else:
            info = corrupt_video(path, seed)
        reason = _SKIP_REASONS.get(kind)
        if reason:
            skipped[clip] = reason
        clips[clip] = {"path": path, "group": group, "video": name, "index": index,
                       "duration": info.get("duration"), "fps": float(fps), "fps_exact": fps,
                       "num_frames": info.get("num_frames"), "size": tuple(size) if kind != "corrupt" else None,
                       "face": face, "boxes": info.get("boxes"), "audio_rate": rate,
                       "channels": (2 if stereo else 1) if rate else None, "test": clip in tests,
                       "expected": "skip" if reason else "ok", "skip_reason": reason}
    expected = sorted(c for c, facts in clips.items() if facts["expected"] == "ok")
    return {"root": root, "clips": clips, "expected_clips": expected,
            "test_clips": sorted(c for c in expected if clips[c]["test"]),
            "train_clips": sorted(c for c in expected if not clips[c]["test"]),
            "skipped": skipped, "write_seconds": time.perf_counter() - began}
