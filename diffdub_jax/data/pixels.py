"""Pixel conventions shared by every layer: the renderer's value range and point rescaling.

Images are uint8 [0, 255] on disk and in videos, float32 [-1, 1] inside the models. Points
(landmarks) use pixel centres at integers, so a point keeps its place in the picture when the
picture is resized.
"""

from __future__ import annotations

import numpy as np


def to_unit_range(image: np.ndarray) -> np.ndarray:
    """uint8 [0, 255] -> float32 [-1, 1], the renderer's pixel range."""
    return (np.asarray(image).astype(np.float32) / 127.5 - 1.0).astype(np.float32)


def to_uint8(image: np.ndarray) -> np.ndarray:
    """float [-1, 1] -> uint8 [0, 255], rounded to the nearest level (the inverse of to_unit_range)."""
    return np.clip(np.rint((np.asarray(image, np.float32) + 1.0) * 127.5), 0, 255).astype(np.uint8)


def rescale_points(points: np.ndarray, from_size, to_size) -> np.ndarray:
    """Points from a picture of from_size pixels to the same picture at to_size (scalars for a
    square, or (x, y) pairs), pixel centres at integers."""
    scale = np.asarray(to_size, np.float32) / np.asarray(from_size, np.float32)
    return ((np.asarray(points, np.float32) + 0.5) * scale - 0.5).astype(np.float32)


def sample_grid(batch: dict, rendered: np.ndarray) -> np.ndarray:
    """Rows of (reference | masked input | rendered | target) as uint8, for TensorBoard and PNG;
    batch and rendered in [-1, 1]."""
    masked = batch["image"] * (1 - batch["edit_mask"])
    reference = batch["reference"][..., :3]
    rows = [np.concatenate([to_uint8(reference[i]), to_uint8(masked[i]), to_uint8(rendered[i]),
                            to_uint8(batch["image"][i])], axis=1) for i in range(len(rendered))]
    return np.concatenate(rows, axis=0)


def side_by_side(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Two (H, W, 3) uint8 frames of one height next to each other, a 4 px white rule between."""
    return np.concatenate([left, np.full((left.shape[0], 4, 3), 255, np.uint8), right], axis=1)
