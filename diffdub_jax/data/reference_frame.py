"""Which source frame a dub takes as its reference: a frontal face with a closed mouth.

The renderer copies the reference's look into the redrawn lower face, and stage 2 reads its
latent as the person's rest state. An open mouth or a turned head there shows up in every dubbed
frame, so `infer --reference=auto` picks the frame whose 68 landmarks score lowest on
mouth openness + head yaw (both unitless, 0 = closed / frontal), instead of the release's
first frame.
"""

from __future__ import annotations

import numpy as np

INNER_LIP_PAIRS = ((61, 67), (62, 66), (63, 65))  # upper / lower inner lip points, iBUG 68
MOUTH_CORNERS = (48, 54)
JAW_ENDS, NOSE_TIP = (0, 16), 30


def mouth_openness(landmarks: np.ndarray) -> np.ndarray:
    """(T,) inner-lip gap over mouth width for (T, 68, 2) landmarks: 0 closed, ~0.4 wide open."""
    landmarks = np.asarray(landmarks, np.float64)
    gap = np.mean([landmarks[:, lower, 1] - landmarks[:, upper, 1] for upper, lower in INNER_LIP_PAIRS], axis=0)
    width = np.linalg.norm(landmarks[:, MOUTH_CORNERS[1]] - landmarks[:, MOUTH_CORNERS[0]], axis=-1)
    return np.maximum(gap, 0.0) / np.maximum(width, 1e-6)


def head_yaw(landmarks: np.ndarray) -> np.ndarray:
    """(T,) how far the nose tip sits from the middle of the jaw's ends: 0 frontal, 1 profile."""
    landmarks = np.asarray(landmarks, np.float64)
    left, right = landmarks[:, JAW_ENDS[0], 0], landmarks[:, JAW_ENDS[1], 0]
    position = (landmarks[:, NOSE_TIP, 0] - left) / np.where(np.abs(right - left) > 1e-6, right - left, 1e-6)
    return np.clip(2.0 * np.abs(position - 0.5), 0.0, 1.0)


def choose_reference(landmarks: np.ndarray) -> int:
    """Index of the frame (of (T, 68, 2) landmarks) with the lowest openness + yaw."""
    if len(landmarks) == 0:
        raise ValueError("no landmarks to choose a reference frame from")
    return int(np.argmin(mouth_openness(landmarks) + head_yaw(landmarks)))
