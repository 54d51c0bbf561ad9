"""LMD, the landmark distance of the mouth: how far the generated lips are from the real ones.

Mean Euclidean distance of the 20 mouth landmarks (iBUG 48-67) between generated and reference
frames, in pixels of the face crop at 256 px. Measured in the crop, not the frame, so the number
is a fixed fraction of the face's size whatever the video's resolution (a 1080p and a 360p copy
of one dub score the same), which is what lets papers compare LMD across datasets; the frames are
not re-centred, since a dub keeps the source's pose, and a mouth drawn off its place is an error.
"""

from __future__ import annotations

import numpy as np

MOUTH = slice(48, 68)
LMD_CROP_SIZE = 256


def mouth_landmark_distance(generated: np.ndarray, reference: np.ndarray, crop_side: float) -> np.ndarray:
    """(T,) LMD per frame of (T, 68, 2) landmarks in pixels of a crop crop_side wide."""
    generated, reference = np.asarray(generated, np.float64), np.asarray(reference, np.float64)
    if generated.shape != reference.shape or generated.shape[-2:] != (68, 2):
        raise ValueError(f"expected two (T, 68, 2) landmark arrays, got {generated.shape} and {reference.shape}")
    distance = np.linalg.norm(generated[:, MOUTH] - reference[:, MOUTH], axis=-1).mean(axis=-1)
    return distance * LMD_CROP_SIZE / crop_side
