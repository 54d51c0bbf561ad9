"""Mouth opening measured from pixels, the lip-sync signal of the synthetic set.

The open mouth shows a dark interior, so the dark area inside a box below the nose, divided by
the squared inter-ocular distance to cancel head scale, measures how far the mouth is open. The box
is placed by the eyes and the nostril base only: the jaw and chin drop as the mouth opens, so a
region drawn through them (as an earlier version did) grows with the SOURCE's mouth and scores a
dub by the mouth it replaced. Eyes and nose move with the head, not with speech, so the same box
measures source and rendered frames alike.
"""

from __future__ import annotations

import numpy as np

NOSTRIL_BASE = 33
DARK_FRACTION = 0.5  # "dark" = luminance below half the median luminance of the region
# The box in inter-ocular distances from the nostril base, along / across the eye axis: wide and
# deep enough for every synthetic identity's lips, open or closed, and above the chin.
BOX_HALF_WIDTH, BOX_TOP, BOX_BOTTOM = 0.45, 0.05, 0.9


def _eye_frame(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Unit vectors along and across the eye axis (x right, y down) and the inter-ocular distance."""
    lm = np.asarray(landmarks, np.float64)
    axis = lm[42:48].mean(0) - lm[36:42].mean(0)
    distance = float(np.linalg.norm(axis))
    along = axis / max(distance, 1e-6)
    return along, np.array([-along[1], along[0]]), max(distance, 1.0)


def mouth_region(landmarks: np.ndarray, height: int, width: int) -> np.ndarray:
    """(H, W) bool: the box below the nostril base, aligned with the eyes, scaled by their distance."""
    along, across, distance = _eye_frame(landmarks)
    ys, xs = np.mgrid[0:height, 0:width]
    offset = np.stack([xs, ys], -1) - np.asarray(landmarks, np.float64)[NOSTRIL_BASE]
    u, v = offset @ along / distance, offset @ across / distance
    return (np.abs(u) <= BOX_HALF_WIDTH) & (v >= BOX_TOP) & (v <= BOX_BOTTOM)


def mouth_opening(frame: np.ndarray, landmarks: np.ndarray) -> float:
    """Dark mouth-interior area of one uint8 (H, W, 3) frame, in inter-ocular distances squared."""
    region = mouth_region(landmarks, frame.shape[0], frame.shape[1])
    luminance = frame.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    values = luminance[region]
    if values.size == 0:
        return 0.0
    dark = np.count_nonzero(values < DARK_FRACTION * np.median(values))
    return dark / _eye_frame(landmarks)[2] ** 2


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
