"""Image quality inside a region: PSNR of images in [-1, 1] over the pixels of a mask."""

from __future__ import annotations

import numpy as np


def masked_psnr(prediction: np.ndarray, target: np.ndarray, mask: np.ndarray) -> float:
    """PSNR in dB (data range 1 after mapping [-1, 1] -> [0, 1]) over pixels where mask > 0.5.

    prediction/target: (..., H, W, C); mask: (..., H, W, 1). All pixels of the batch are pooled.
    """
    prediction, target = np.asarray(prediction, np.float64), np.asarray(target, np.float64)
    weights = np.broadcast_to(np.asarray(mask) > 0.5, prediction.shape)
    if not weights.any():
        raise ValueError("masked_psnr: the mask selects no pixels")
    error = ((prediction - target) / 2.0) ** 2
    mse = error[weights].mean()
    return float(10 * np.log10(1.0 / max(mse, 1e-12)))
