"""LSE-D and LSE-C: SyncNet's lip-sync scores as Wav2Lip's evaluation computes them
(its `SyncNetInstance_calc_scores.evaluate`, run on face-cropped 25 fps videos).

Every step follows that procedure, since papers compare these numbers to two or three decimals:
- frames are resized to 224x224 with cv2.resize (bilinear, aspect ratio not kept) and fed as BGR
  values in [0, 255], unnormalised, as cv2.imread gives them;
- audio is 16 kHz int16 (ffmpeg's pcm_s16le) and its MFCCs are python_speech_features' defaults
  (13 coefficients, 25 ms windows every 10 ms, c0 replaced by the log frame energy, which depends
  on the int16 scale);
- window i pairs frames i..i+4 with MFCC frames 4i..4i+19; min(frames, samples // 640) - 5 windows
  (one fewer than would fit);
- for each offset in -15..15 the Euclidean distance between the raw (not normalised) embeddings,
  torch's pairwise_distance with its eps 1e-6, against zero vectors past the audio's ends, is
  averaged over windows: LSE-D is the smallest mean, LSE-C the median mean minus it.
The reference reads frames back from JPEGs that ffmpeg extracted from an mp4; that lossy round
trip belongs to the caller's video, not to the metric, so the frames given are scored as they are.
"""

from __future__ import annotations

import functools

import cv2
import jax
import jax.numpy as jnp
import numpy as np
import python_speech_features

from diffdub_jax.errors import InvalidInputError
from diffdub_jax.models import syncnet as syncnet_model

SAMPLE_RATE = 16000
SAMPLES_PER_FRAME = 640  # 16 kHz / 25 fps
MFCC_PER_FRAME = 4  # 100 Hz MFCCs / 25 fps
VSHIFT = 15
PAIRWISE_EPS = 1e-6  # torch.nn.functional.pairwise_distance adds it to the difference


def lip_frames(frames: np.ndarray) -> np.ndarray:
    """(T, H, W, 3) uint8 RGB face crops -> (T, 224, 224, 3) uint8 BGR, resized as the reference does."""
    size = (syncnet_model.LIP_SIZE, syncnet_model.LIP_SIZE)
    return np.stack([cv2.resize(np.ascontiguousarray(frame[..., ::-1]), size) for frame in frames])


def mfcc(waveform: np.ndarray) -> np.ndarray:
    """(M, 13) MFCCs of a 16 kHz float waveform in [-1, 1], taken at int16 scale as the reference's
    wav file holds it (quantised as ffmpeg converts float to pcm_s16le)."""
    samples = np.clip(np.rint(np.asarray(waveform, np.float64) * 32768.0), -32768, 32767)
    return python_speech_features.mfcc(samples, SAMPLE_RATE).astype(np.float32)


@functools.partial(jax.jit, static_argnums=0)
def _embed_windows(model: syncnet_model.SyncNet, params: dict, frames: jnp.ndarray,
                   features: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
    """Lip and audio embeddings of the windows starting at each of frames[:-4]: frames is
    (B + 4, 224, 224, 3) uint8 BGR, features (4B + 16, 13) MFCCs from the same first frame."""
    count = frames.shape[0] - syncnet_model.LIP_FRAMES + 1
    clips = jnp.stack([frames[k:k + count] for k in range(syncnet_model.LIP_FRAMES)], axis=1)
    index = MFCC_PER_FRAME * jnp.arange(count)[:, None] + jnp.arange(syncnet_model.MFCC_FRAMES)[None]
    audio = jnp.swapaxes(features[index], 1, 2)[..., None]  # (B, 13, 20, 1)
    variables = {"params": params}
    lips = model.apply(variables, clips.astype(jnp.float32), method=syncnet_model.SyncNet.embed_lips)
    return lips, model.apply(variables, audio, method=syncnet_model.SyncNet.embed_audio)


def embeddings(frames: np.ndarray, features: np.ndarray, num_windows: int, model: syncnet_model.SyncNet,
               params: dict, batch_size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """(lip, audio) embeddings, each (num_windows, embedding_size), of 224x224 BGR frames and (M, 13)
    MFCCs, in batches of `batch_size` windows (the last padded, so one program serves every batch)."""
    padded = -(-num_windows // batch_size) * batch_size
    frame_count = padded + syncnet_model.LIP_FRAMES - 1
    feature_count = MFCC_PER_FRAME * (padded - 1) + syncnet_model.MFCC_FRAMES
    frames = np.pad(frames[:frame_count], [(0, max(0, frame_count - len(frames)))] + [(0, 0)] * 3)
    features = np.pad(features[:feature_count], [(0, max(0, feature_count - len(features))), (0, 0)])
    lips, audio = [], []
    for start in range(0, padded, batch_size):
        lip, aud = _embed_windows(
            model, params, frames[start:start + batch_size + syncnet_model.LIP_FRAMES - 1],
            features[MFCC_PER_FRAME * start:MFCC_PER_FRAME * (start + batch_size - 1) + syncnet_model.MFCC_FRAMES])
        lips.append(np.asarray(lip))
        audio.append(np.asarray(aud))
    return np.concatenate(lips)[:num_windows], np.concatenate(audio)[:num_windows]


def offset_distances(lips: np.ndarray, audio: np.ndarray, vshift: int = VSHIFT) -> np.ndarray:
    """(N, 2 vshift + 1): distance from lip window i to audio window i + j - vshift (zeros past the ends)."""
    lips, audio = np.asarray(lips, np.float64), np.asarray(audio, np.float64)
    padded = np.pad(audio, [(vshift, vshift), (0, 0)])
    return np.stack([np.linalg.norm(lips - padded[j:j + len(lips)] + PAIRWISE_EPS, axis=-1)
                     for j in range(2 * vshift + 1)], axis=1)


def sync_scores(frames: np.ndarray, waveform: np.ndarray, model: syncnet_model.SyncNet, params: dict,
                batch_size: int = 32) -> dict:
    """{'lse_d', 'lse_c', 'offset'} of (T, H, W, 3) uint8 RGB face crops at 25 fps (any size) and
    their 16 kHz mono float waveform. offset is in frames: k when lip window i best matches audio
    window i - k (the audio leads the video by k frames)."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be (T, H, W, 3) uint8, got {frames.shape} {frames.dtype}")
    waveform = np.asarray(waveform)
    if waveform.ndim != 1:
        raise ValueError(f"waveform must be mono (samples,), got shape {waveform.shape}")
    num_windows = min(len(frames), len(waveform) // SAMPLES_PER_FRAME) - syncnet_model.LIP_FRAMES
    if num_windows < 1:
        raise InvalidInputError(f"clip too short for SyncNet: {len(frames)} frames and {len(waveform)} samples; "
                                f"it needs at least {syncnet_model.LIP_FRAMES + 1} frames of both")
    lips, audio = embeddings(lip_frames(frames), mfcc(waveform), num_windows, model, params, batch_size)
    mean_distance = offset_distances(lips, audio).mean(axis=0)
    best = int(np.argmin(mean_distance))
    median = np.sort(mean_distance)[(len(mean_distance) - 1) // 2]  # torch.median: the lower middle
    return {"lse_d": float(mean_distance[best]), "lse_c": float(median - mean_distance[best]),
            "offset": VSHIFT - best}
