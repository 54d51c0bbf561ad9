"""Training-time augmentations of the semantic-encoder crop (DESIGN §2.1).

They follow the release's albumentations pipeline, applied in this order with these
probabilities: horizontal flip (0.5); colour jitter (0.3; brightness, contrast, saturation and
hue each by up to 0.2, in random order); box blur (0.1; odd kernel 3-7); shift-scale-rotate (0.5;
up to 20 degrees, scale 0.9-1.1, shift 10-20% of the side in x and y, black border). They make the
encoder describe mouth motion rather than pixels. Written with numpy/PIL/scipy, which the project
already depends on, so no image-augmentation library is needed.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from PIL import Image
from scipy import ndimage


@dataclasses.dataclass(frozen=True)
class AugmentConfig:
    flip_p: float = 0.5
    jitter_p: float = 0.3
    jitter: float = 0.2
    blur_p: float = 0.1
    max_blur_kernel: int = 7
    affine_p: float = 0.5
    max_rotation_deg: float = 20.0
    max_scale_change: float = 0.1
    shift_range: tuple[float, float] = (0.1, 0.2)


def _grey(image: np.ndarray) -> np.ndarray:
    return image @ np.array([0.299, 0.587, 0.114])


def colour_jitter(image: np.ndarray, rng: np.random.Generator, amount: float) -> np.ndarray:
    """Brightness, contrast, saturation and hue changes in random order (float image 0..255)."""
    out = image.astype(np.float64)
    for op in rng.permutation(4):
        factor = rng.uniform(1 - amount, 1 + amount)
        if op == 0:
            out = out * factor
        elif op == 1:
            out = (out - _grey(out).mean()) * factor + _grey(out).mean()
        elif op == 2:
            grey = _grey(out)[..., None]
            out = (out - grey) * factor + grey
        else:
            hsv = np.asarray(Image.fromarray(np.clip(out, 0, 255).astype(np.uint8)).convert("HSV"))
            hsv = hsv.copy()
            hsv[..., 0] = (hsv[..., 0].astype(int) + int(rng.uniform(-amount, amount) * 255)) % 256
            out = np.asarray(Image.fromarray(hsv, "HSV").convert("RGB"), np.float64)
        out = np.clip(out, 0, 255)
    return out


def shift_scale_rotate(image: np.ndarray, angle_deg: float, scale: float, shift: tuple) -> np.ndarray:
    """Rotate and scale about the centre, then shift by (dx, dy) fractions of the side."""
    height, width = image.shape[:2]
    centre = np.array([(width - 1) / 2, (height - 1) / 2])
    theta = np.deg2rad(angle_deg)
    forward = scale * np.array([[np.cos(theta), np.sin(theta)], [-np.sin(theta), np.cos(theta)]])
    offset = centre + np.array([shift[0] * width, shift[1] * height]) - forward @ centre
    inverse = np.linalg.inv(forward)
    inverse_offset = -inverse @ offset
    coefficients = (inverse[0, 0], inverse[0, 1], inverse_offset[0],
                    inverse[1, 0], inverse[1, 1], inverse_offset[1])
    pil = Image.fromarray(np.clip(image, 0, 255).astype(np.uint8))
    warped = pil.transform((width, height), Image.Transform.AFFINE, coefficients,
                           resample=Image.Resampling.BILINEAR, fillcolor=(0, 0, 0))
    return np.asarray(warped, np.float64)


def augment_encoder_crop(image: np.ndarray, rng: np.random.Generator,
                         config: AugmentConfig = AugmentConfig()) -> np.ndarray:
    """Returns an augmented copy of a uint8 (H, W, 3) encoder crop, as uint8."""
    out = image.astype(np.float64)
    if rng.random() < config.flip_p:
        out = out[:, ::-1]
    if rng.random() < config.jitter_p:
        out = colour_jitter(out, rng, config.jitter)
    if rng.random() < config.blur_p:
        kernel = int(rng.choice(np.arange(3, config.max_blur_kernel + 1, 2)))
        out = ndimage.uniform_filter(out, size=(kernel, kernel, 1), mode="reflect")
    if rng.random() < config.affine_p:
        angle = rng.uniform(-config.max_rotation_deg, config.max_rotation_deg)
        scale = 1.0 + rng.uniform(-config.max_scale_change, config.max_scale_change)
        shift = tuple(rng.uniform(*config.shift_range, size=2))
        out = shift_scale_rotate(out, angle, scale, shift)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)
