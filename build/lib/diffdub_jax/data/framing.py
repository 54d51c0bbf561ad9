"""How a renderer sees a face: crop size and scale, and the edit mask's window and dilation.

The renderer learns one framing; inference must crop and mask the same way. It is part of the
renderer's config (`data` section), saved with every checkpoint, and read back by `infer`, so a
user never has to remember it. Checkpoints written before a field existed get the release's value.
"""

from __future__ import annotations

import dataclasses

import ml_collections

from diffdub_jax.data import faces, masks


@dataclasses.dataclass(frozen=True)
class Framing:
    image_size: int  # the renderer's input and output side, px
    crop_scale: float = faces.CROP_SCALE  # crop side / max(face box width, height)
    mask_window: int = 0  # frames each side whose edit regions make a frame's mask (0: per frame)
    mask_dilation: float = masks.DILATION_RADIUS  # the edit region's dilation, px at 256

    @classmethod
    def from_config(cls, data: ml_collections.ConfigDict) -> "Framing":
        """The framing of a renderer config's `data` section."""
        return cls(image_size=int(data.image_size), crop_scale=float(data.get("crop_scale", faces.CROP_SCALE)),
                   mask_window=int(data.get("mask_window", 0)),
                   mask_dilation=float(data.get("mask_dilation", masks.DILATION_RADIUS)))
