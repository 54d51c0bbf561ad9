"""Mouth opening measured from pixels, the lip-sync signal of the synthetic set.

The open mouth shows a dark interior, so the dark area inside the lower face (below the
nostrils, between jaw points 6 and 10, down to the chin), divided by the squared inter-ocular
distance to cancel head scale, measures how far the mouth is open. It needs only landmarks that
the renderer does not move (nose, jaw line, eyes), so it also scores rendered frames.
"""

from __future__ import annotations

import numpy as np

from diffdub_jax.data import masks

NOSTRIL_BASE, CHIN = 33, 8
DARK_FRACTION = 0.5  # "dark" = luminance below half the median luminance of the region


def mouth_region(landmarks: np.ndarray, height: int, width: int) -> np.ndarray:
    """(H, W) bool: the lower-face pentagon from just below the nostrils to the chin."""
    lm = np.asarray(landmarks, np.float64)
    top = lm[NOSTRIL_BASE, 1] + 0.15 * (lm[CHIN, 1] - lm[NOSTRIL_BASE, 1])
    polygon = masks.lower_face_polygon(lm, top, height)
    polygon[3, 1] = lm[CHIN, 1]  # stop at the chin: below it lies neck or background
    return masks.rasterise_polygon(polygon, height, width)


def mouth_opening(frame: np.ndarray, landmarks: np.ndarray) -> float:
    """Dark mouth-interior area of one uint8 (H, W, 3) frame, in inter-ocular distances squared."""
    region = mouth_region(landmarks, frame.shape[0], frame.shape[1])
    luminance = frame.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    values = luminance[region]
    if values.size == 0:
        return 0.0
    dark = np.count_nonzero(values < DARK_FRACTION * np.median(values))
    eyes = np.asarray(landmarks, np.float64)
    interocular = np.linalg.norm(eyes[36:42].mean(0) - eyes[42:48].mean(0))
    return dark / max(interocular, 1.0) ** 2


def mouth_openings(frames: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """mouth_opening for every frame of a (T, H, W, 3) clip with (T, 68, 2) landmarks."""
    return np.array([mouth_opening(f, l) for f, l in zip(frames, landmarks)], np.float64)


def audio_envelope(waveform: np.ndarray, sample_rate: int, fps: float, num_frames: int) -> np.ndarray:
    """RMS of the waveform over each video frame's interval."""
    waveform = np.asarray(waveform, np.float64)
    edges = np.clip(np.rint(np.arange(num_frames + 1) / fps * sample_rate).astype(int), 0, len(waveform))
    squares = np.concatenate([[0.0], np.cumsum(waveform**2)])
    counts = np.maximum(edges[1:] - edges[:-1], 1)
    return np.sqrt((squares[edges[1:]] - squares[edges[:-1]]) / counts)


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation; 0 when either side is constant."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    a, b = a - a.mean(), b - b.mean()
    denominator = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / denominator) if denominator > 0 else 0.0
