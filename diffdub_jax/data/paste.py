"""Paste a rendered face crop back into its full-resolution frame (DESIGN §2.4).

Only the edit region changes: the edit mask is drawn at the rendered crop's resolution (masks.py),
resized to the crop's size in the frame and blurred, and the blend uses it as alpha. Where alpha is
zero the source pixels are kept bit for bit, so everything outside the feathered lower face (the
rest of the crop included) is exactly the input frame.
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy import ndimage

from diffdub_jax.data.faces import CropBox, cut
from diffdub_jax.data.masks import REFERENCE_RESOLUTION

FEATHER_SIGMA = 4.0  # px at 256: half the mask's dilation, so the blend is ~1 on the pentagon
MIN_ALPHA = 1.0 / 512  # below this a pixel could not change after rounding; keep it exact


def feather_mask(edit_region: np.ndarray, side: int, sigma: float = FEATHER_SIGMA) -> np.ndarray:
    """(side, side) float32 alpha in [0, 1]: the rendered crop's (S, S) edit mask (masks.edit_mask)
    blurred by sigma (in 256 px units, scaled to S) and resized to side x side. Blurred at the
    crop's size, not the frame's: a smooth ramp resizes as well either way, and at 720p this is a
    fiftieth of the work (it ran beside the renderer for every frame)."""
    size = np.shape(edit_region)[0]
    blurred = ndimage.gaussian_filter(np.asarray(edit_region, np.float32), sigma * size / REFERENCE_RESOLUTION)
    alpha = np.array(Image.fromarray(blurred).resize((side, side), Image.BILINEAR), np.float32)
    alpha[alpha < MIN_ALPHA] = 0.0
    return np.clip(alpha, 0.0, 1.0)


def paste_face(frame: np.ndarray, rendered: np.ndarray, box: CropBox, edit_region: np.ndarray,
               sigma: float = FEATHER_SIGMA) -> np.ndarray:
    """A copy of frame (H, W, 3) uint8 with rendered (S, S, 3) uint8 blended into box through the
    feathered edit mask; edit_region (S, S) is the mask the crop was rendered with, so what is
    pasted is exactly what was re-drawn."""
    size = rendered.shape[0]
    if rendered.shape[:2] != (size, size) or np.shape(edit_region) != (size, size):
        raise ValueError(f"rendered crop and its edit region must be square and alike, got shapes "
                         f"{rendered.shape} and {np.shape(edit_region)}")
    alpha = feather_mask(edit_region, box.side, sigma)[..., None]
    upscaled = Image.fromarray(np.asarray(rendered, np.uint8)).resize((box.side, box.side),
                                                                      Image.BICUBIC)
    out = np.array(frame)
    rows, cols = np.flatnonzero(alpha.any(axis=(1, 2))), np.flatnonzero(alpha.any(axis=(0, 2)))
    if not len(rows):
        return out
    inside = np.s_[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]  # the blend's work: the lower face only
    region, alpha = cut(out, box)[inside], alpha[inside]
    source = region.astype(np.float32)
    blend = source + (np.asarray(upscaled)[inside].astype(np.float32) - source) * alpha
    region[...] = np.where(alpha > 0, np.clip(np.rint(blend), 0, 255), region).astype(np.uint8)
    return out
