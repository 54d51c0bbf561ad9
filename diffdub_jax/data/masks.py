"""Mask geometry of DiffDub from 68 iBUG landmarks (DESIGN §2.1).

The release draws its polygons on 256 px crops and dilates them with a 5x5 kernel four times
(a 17 px square, radius 8). At other resolutions every length (the 5 px chin margin, the
dilation radius) is scaled by resolution / 256, so a 64 px model sees the same region.
Landmarks are (x, y) in pixels of the image they belong to, pixel centres at integers.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

REFERENCE_RESOLUTION = 256
CHIN_MARGIN = 5.0  # px at 256: the edit region reaches this far below the chin (landmark 8)
DILATION_RADIUS = 8  # px at 256: cv2.dilate(5x5 kernel, iterations=4)
NOSE_TIP, INNER_BROW = 30, 21


def lower_face_polygon(landmarks: np.ndarray, top_y: float, resolution: int) -> np.ndarray:
    """The release's pentagon between jaw points 6 and 10, from top_y down to below the chin."""
    lm = np.asarray(landmarks, np.float64)
    margin = CHIN_MARGIN * resolution / REFERENCE_RESOLUTION
    return np.array([
        (lm[6, 0], top_y), (lm[10, 0], top_y), lm[10], (lm[8, 0], lm[8, 1] + margin), lm[6],
    ])


def rasterise_polygons(polygons: Iterable[np.ndarray], height: int, width: int) -> np.ndarray:
    """The union of filled polygons (vertices rounded to pixels, boundaries included, like
    cv2.fillPoly), drawn on one canvas."""
    canvas = Image.new("1", (width, height), 0)
    draw = ImageDraw.Draw(canvas)
    for polygon in polygons:
        draw.polygon([tuple(p) for p in np.rint(polygon).astype(int).tolist()], fill=1, outline=1)
    return np.asarray(canvas, bool)


def dilation_radius(resolution: int, dilation: float = DILATION_RADIUS) -> int:
    """A dilation given in px at 256, in px at resolution."""
    return int(round(dilation * resolution / REFERENCE_RESOLUTION))


def dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """Square (Chebyshev) dilation, as repeated cv2.dilate with a square kernel: a separable
    maximum filter, 20x faster than binary_dilation with the square structure and equal to it."""
    if radius <= 0:
        return mask
    return ndimage.maximum_filter(mask, size=2 * radius + 1, mode="constant", cval=0)


def _dilated_pentagon(landmarks: np.ndarray, top_y: float, resolution: int) -> np.ndarray:
    polygon = lower_face_polygon(landmarks, top_y, resolution)
    return dilate(rasterise_polygons([polygon], resolution, resolution), dilation_radius(resolution))


def edit_mask(landmarks: np.ndarray, resolution: int, dilation: float = DILATION_RADIUS) -> np.ndarray:
    """(H, W) bool, True where the renderer regenerates pixels: nose tip to below the chin.

    landmarks (68, 2) give one frame's region, as the release draws it. (K, 68, 2) give the union
    of K frames' regions (see `window`): the jaw drops as the mouth opens, so a single frame's
    region betrays how open that frame's mouth is (its lower edge follows the chin), and a renderer
    trained on it learns to read the mouth off the mask instead of off z_sem; a union over a
    second of frames no longer does. dilation (px at 256) grows the region; the release's 8 leaves
    the jaw line beside the chin outside it. The release stores the complement (1 = keep); this module is
    the only place that knows.
    """
    landmarks = np.asarray(landmarks, np.float64)
    if landmarks.ndim == 2:
        landmarks = landmarks[None]
    # dilation distributes over union: dilate once at the end
    union = rasterise_polygons((lower_face_polygon(frame, frame[NOSE_TIP][1], resolution) for frame in landmarks),
                               resolution, resolution)
    return dilate(union, dilation_radius(resolution, dilation))


def window(index: int, num_frames: int, radius: int) -> slice:
    """Frames index - radius .. index + radius of a clip, clipped to it: whose edit regions make
    frame index's mask when masks are united over time (radius 0: the frame alone)."""
    return slice(max(0, index - radius), min(num_frames, index + radius + 1))


def eye_guided_mask(landmarks: np.ndarray, resolution: int) -> np.ndarray:
    """(H, W) bool region the semantic encoder sees: the edit pentagon raised to the inner brow."""
    return _dilated_pentagon(landmarks, landmarks[INNER_BROW][1], resolution)


def resize_nearest(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Nearest-neighbour resize with cv2.INTER_NEAREST's sampling (src = floor(dst * scale))."""
    rows = np.minimum((np.arange(height) * image.shape[0] / height).astype(int), image.shape[0] - 1)
    cols = np.minimum((np.arange(width) * image.shape[1] / width).astype(int), image.shape[1] - 1)
    return image[rows[:, None], cols[None, :]]


def encoder_crop(image: np.ndarray, landmarks: np.ndarray, output_size: int) -> np.ndarray:
    """The semantic encoder's input: the frame times the eye-guided mask, cropped to the mask's
    bounding box and resized (nearest) to output_size. image is (H, W, C) uint8 at its own
    resolution, which must be square. Like the release, the box excludes its last row/column."""
    resolution = image.shape[0]
    if image.shape[1] != resolution:
        raise ValueError(f"encoder_crop expects a square face crop, got shape {image.shape}")
    region = eye_guided_mask(landmarks, resolution)
    ys, xs = np.nonzero(region)
    if len(ys) == 0:
        raise ValueError("the eye-guided region is empty: landmarks lie outside the image")
    masked = image * region[..., None].astype(image.dtype)
    y1, y2, x1, x2 = ys.min(), max(ys.max(), ys.min() + 1), xs.min(), max(xs.max(), xs.min() + 1)
    return resize_nearest(masked[y1:y2, x1:x2], output_size, output_size)
