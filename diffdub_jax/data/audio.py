"""Audio in: decode any file ffmpeg reads, resample, and make features aligned to video frames.

Stage 2 consumes exactly two audio feature frames per video frame (50 Hz at 25 fps, HuBERT's
rate). `log_mel` is the front end that needs no pretrained weights; `align_to_video` maps a
feature sequence of any rate onto a video of any fps and frame count.
"""

from __future__ import annotations

import os
import subprocess

import imageio_ffmpeg
import librosa
import numpy as np

from diffdub_jax.errors import UserError

SAMPLE_RATE = 16000
FEATURE_RATE = 50.0  # feature frames per second (20 ms hop)
FEATURES_PER_VIDEO_FRAME = 2


class AudioError(UserError, ValueError):
    """A file that cannot be turned into audio; the message names the file and the reason."""


def ffmpeg_span(start: float = 0.0, duration: float | None = None) -> list[str]:
    """ffmpeg input options reading only `duration` seconds from `start` (seconds)."""
    return (["-ss", f"{start:.6f}"] if start else []) + (["-t", f"{duration:.6f}"] if duration is not None else [])


def load_audio(path: str, sample_rate: int = SAMPLE_RATE, *, start: float = 0.0,
               duration: float | None = None) -> np.ndarray:
    """Decodes the first audio stream of any file ffmpeg reads to mono float32 at sample_rate;
    `start` / `duration` (seconds) read only that span."""
    if not os.path.isfile(path):
        raise AudioError(f"{path}: no such file")
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-v", "error", *ffmpeg_span(start, duration), "-i", path, "-map", "0:a:0",
               "-ac", "1", "-ar", str(sample_rate), "-f", "f32le", "-"]
    result = subprocess.run(command, capture_output=True, check=False)
    if result.returncode != 0:
        lines = result.stderr.decode(errors="replace").strip().splitlines()
        reason = lines[-1] if lines else f"ffmpeg exited with {result.returncode}"
        if any("matches no streams" in line for line in lines):  # not always ffmpeg's last line
            reason = "it has no audio stream"
        raise AudioError(f"{path}: cannot decode audio ({reason})")
    waveform = np.frombuffer(result.stdout, np.float32)
    if waveform.size == 0:
        raise AudioError(f"{path}: the audio stream is empty")
    return waveform.copy()


def to_mono(waveform: np.ndarray) -> np.ndarray:
    """(samples,) or (samples, channels) -> (samples,) float32."""
    waveform = np.asarray(waveform)
    if np.issubdtype(waveform.dtype, np.integer):
        waveform = waveform.astype(np.float32) / np.iinfo(waveform.dtype).max
    if waveform.ndim == 2:
        waveform = waveform.mean(axis=1)
    if waveform.ndim != 1:
        raise AudioError(f"expected a (samples,) or (samples, channels) waveform, got {waveform.shape}")
    return waveform.astype(np.float32)


def resample(waveform: np.ndarray, orig_rate: int, target_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Band-limited resampling (soxr through librosa); a no-op at equal rates."""
    waveform = to_mono(waveform)
    if orig_rate == target_rate:
        return waveform
    return librosa.resample(waveform, orig_sr=orig_rate, target_sr=target_rate, res_type="soxr_hq")


def log_mel(waveform: np.ndarray, sample_rate: int = SAMPLE_RATE, num_mels: int = 80) -> np.ndarray:
    """(frames, num_mels) float32 log-mel spectrogram at FEATURE_RATE, frame k centred at k/50 s.

    25 ms windows, 20 ms hop, 55-7600 Hz, natural log with a 1e-5 floor.
    """
    waveform = to_mono(waveform)
    if sample_rate != SAMPLE_RATE:
        waveform = resample(waveform, sample_rate, SAMPLE_RATE)
    hop = int(SAMPLE_RATE / FEATURE_RATE)
    mel = librosa.feature.melspectrogram(
        y=waveform, sr=SAMPLE_RATE, n_fft=512, win_length=400, hop_length=hop, n_mels=num_mels,
        fmin=55.0, fmax=7600.0, center=True, pad_mode="constant")
    return np.log(np.maximum(mel, 1e-5)).T.astype(np.float32)


def align_to_video(features: np.ndarray, feature_rate: float, fps: float, num_frames: int,
                   start: float = 0.0) -> np.ndarray:
    """Resamples features to exactly FEATURES_PER_VIDEO_FRAME rows per video frame.

    Row j of the output is the feature nearest to time start + j / (2 fps), where `start` is when
    video frame 0 begins in the audio (0 unless the audio carries context before the video); times
    past either end take the edge feature (edge padding), and features past the video are dropped
    (trimming). At 25 fps, 50 Hz and start 0 this is the identity on the overlapping part.
    """
    if len(features) == 0:
        raise AudioError("no audio features to align (empty audio)")
    times = start + np.arange(num_frames * FEATURES_PER_VIDEO_FRAME) / (FEATURES_PER_VIDEO_FRAME * fps)
    index = np.clip(np.rint(times * feature_rate).astype(int), 0, len(features) - 1)
    return features[index]


def clip_audio(clip) -> tuple[np.ndarray, int, float, int, float]:
    """(waveform as float32 in [-1, 1], sample rate, fps, number of frames, start) of a dataset clip
    (int16 `waveform`, `sample_rate`, `fps`, `frames`, and optionally `waveform_offset`, the
    samples of context before frame 0): what an audio frontend needs to compute features aligned
    to its frames."""
    rate = int(clip["sample_rate"])
    start = float(clip["waveform_offset"]) / rate if "waveform_offset" in clip else 0.0
    return (np.asarray(clip["waveform"], np.float32) / 32768.0, rate, float(clip["fps"]),
            len(clip["frames"]["image"]), start)
