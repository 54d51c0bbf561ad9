"""How a generated mouth moves and what its pixels look like, against the reference's.

PSNR prefers a mean, half-open mouth and lip-sync correlations ignore amplitude; a Laplacian's
variance reads noise as sharpness. These scores each see one failure those miss:
- articulation: the lip opening's standard deviation over time, generated over reference (both
  driven by the same audio). Below 1 the dub's mouth moves less than the truth (a damped or frozen
  mouth reads near 0), above 1 more.
- opening error and correlation: the mean absolute difference of the opening frame by frame, and
  the Pearson r of the two curves (timing, whatever the amplitude).
- texture ratio: fine texture in the mouth box (mean absolute difference of each pixel from its
  3x3 median), generated over reference. Grain and speckle raise it, blur lowers it; it stays
  near 1 for a faithful mouth.
The opening is dlib's inner-lip gap (iBUG 61-63 to 67-65) over the mouth's width (48 to 54), so it
needs no scale and holds for any face size.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from diffdub_jax.metrics.landmarks import MOUTH  # noqa: F401  (the lips, iBUG 48-67; mouth_strip reads it here)

UPPER_INNER_LIP, LOWER_INNER_LIP = (61, 62, 63), (67, 66, 65)
MOUTH_CORNERS = (48, 54)
BOX_MARGIN = 0.25  # the mouth box: the lips' bounding box grown by this fraction of the mouth's width


def lip_openings(landmarks: np.ndarray) -> np.ndarray:
    """(T,) inner-lip gap over mouth width of (T, 68, 2) landmarks (NaN where they are NaN)."""
    points = np.asarray(landmarks, np.float64)
    gap = np.linalg.norm(points[:, LOWER_INNER_LIP] - points[:, UPPER_INNER_LIP], axis=-1).mean(axis=-1)
    width = np.linalg.norm(points[:, MOUTH_CORNERS[1]] - points[:, MOUTH_CORNERS[0]], axis=-1)
    return gap / np.maximum(width, 1e-6)


def articulation_scores(generated: np.ndarray, reference: np.ndarray) -> dict:
    """Articulation, opening error and opening r of two (T, 68, 2) landmark tracks, over the frames
    where both have landmarks (NaN scores when fewer than two frames do)."""
    ours, theirs = lip_openings(generated), lip_openings(reference)
    both = ~(np.isnan(ours) | np.isnan(theirs))
    ours, theirs = ours[both], theirs[both]
    if len(ours) < 2:
        return {"mouth_articulation": float("nan"), "mouth_opening_error": float("nan"),
                "mouth_opening_r": float("nan")}
    reference_std = theirs.std()
    centred = (ours - ours.mean()) * (theirs - theirs.mean())
    denominator = ours.std() * reference_std
    return {"mouth_articulation": float(ours.std() / reference_std) if reference_std > 0 else float("nan"),
            "mouth_opening_error": float(np.abs(ours - theirs).mean()),
            "mouth_opening_r": float(centred.mean() / denominator) if denominator > 0 else 0.0}


def mouth_box(landmarks: np.ndarray, height: int, width: int) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) of one frame's (68, 2) lips' bounding box, grown by BOX_MARGIN of
    the mouth's width on every side and kept inside the frame."""
    lips = np.asarray(landmarks, np.float64)[MOUTH]
    margin = BOX_MARGIN * (lips[:, 0].max() - lips[:, 0].min())
    (left, top), (right, bottom) = lips.min(0) - margin, lips.max(0) + margin
    return (int(np.clip(np.floor(top), 0, height - 1)), int(np.clip(np.ceil(bottom), 1, height)),
            int(np.clip(np.floor(left), 0, width - 1)), int(np.clip(np.ceil(right), 1, width)))


def fine_texture(frame: np.ndarray, box: tuple[int, int, int, int]) -> float:
    """Mean absolute difference of a uint8 (H, W, 3) frame's pixels from their 3x3 median, inside box."""
    top, bottom, left, right = box
    patch = np.asarray(frame[top:bottom, left:right], np.float64)
    return float(np.abs(patch - ndimage.median_filter(patch, size=(3, 3, 1), mode="nearest")).mean())


def mouth_textures(frames: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """(N,) fine texture of (N, H, W, 3) uint8 frames in the mouth boxes of (N, 68, 2) landmarks: put
    the reference's landmarks with both videos' frames, so both are measured on the same pixels."""
    height, width = frames.shape[1:3]
    return np.array([fine_texture(frame, mouth_box(points, height, width)) for frame, points in zip(frames, landmarks)])
