"""LPIPS v0.1 (Zhang et al. 2018), the perceptual distance talking-face papers report, in Flax.

A frozen ImageNet trunk (torchvision's AlexNet or VGG16 `features`) is read at five ReLU outputs;
each tap is unit-normalised over channels, the squared difference of the two images' taps is
weighted per channel by a learnt 1x1 head, averaged over space, and the five layers are summed.
Version 0.1 first maps the [-1, 1] input with a fixed per-channel shift and scale (version 0.0
skipped it, a bug its authors fixed; published numbers use 0.1).

Convolutions are named after torchvision's `features.<index>` (`features_0`, ...) and the heads
after lpips' `lin<k>`, so `diffdub_jax.convert.lpips` maps both state dicts mechanically. All
arithmetic runs at full float32 precision: a metric must not depend on the accelerator's
matmul shortcuts (TF32 on recent GPUs).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

# One stage per tap: the max pool (window, stride) before it, or None, then its convolutions as
# (torchvision features index, output channels, kernel, stride, padding), each followed by a ReLU.
Stage = tuple[tuple[int, int] | None, tuple[tuple[int, int, int, int, int], ...]]

ALEXNET: tuple[Stage, ...] = (
    (None, ((0, 64, 11, 4, 2),)),
    ((3, 2), ((3, 192, 5, 1, 2),)),
    ((3, 2), ((6, 384, 3, 1, 1),)),
    (None, ((8, 256, 3, 1, 1),)),
    (None, ((10, 256, 3, 1, 1),)),
)
VGG16: tuple[Stage, ...] = (
    (None, ((0, 64, 3, 1, 1), (2, 64, 3, 1, 1))),
    ((2, 2), ((5, 128, 3, 1, 1), (7, 128, 3, 1, 1))),
    ((2, 2), ((10, 256, 3, 1, 1), (12, 256, 3, 1, 1), (14, 256, 3, 1, 1))),
    ((2, 2), ((17, 512, 3, 1, 1), (19, 512, 3, 1, 1), (21, 512, 3, 1, 1))),
    ((2, 2), ((24, 512, 3, 1, 1), (26, 512, 3, 1, 1), (28, 512, 3, 1, 1))),
)
TRUNKS: dict[str, tuple[Stage, ...]] = {"alex": ALEXNET, "vgg": VGG16}

# lpips' ScalingLayer: the [-1, 1] image's ImageNet mean and std per RGB channel.
SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)
_EPS = 1e-10  # lpips' normalize_tensor: x / (|x| + eps), eps outside the square root

_HIGHEST = jax.lax.Precision.HIGHEST


def _trunk_taps(images: jnp.ndarray, stages: tuple[Stage, ...]) -> list[jnp.ndarray]:
    """The five ReLU outputs of a trunk on scaled NHWC images; call inside a compact module."""
    taps, h = [], images
    for pool, convs in stages:
        if pool is not None:
            h = nn.max_pool(h, (pool[0], pool[0]), strides=(pool[1], pool[1]), padding="VALID")
        for index, channels, kernel, stride, padding in convs:
            h = nn.Conv(channels, (kernel, kernel), strides=(stride, stride),
                        padding=((padding, padding), (padding, padding)), precision=_HIGHEST,
                        name=f"features_{index}")(h)
            h = nn.relu(h)
        taps.append(h)
    return taps


def _unit_channels(features: jnp.ndarray) -> jnp.ndarray:
    return features / (jnp.sqrt(jnp.sum(features**2, axis=-1, keepdims=True)) + _EPS)


class LPIPS(nn.Module):
    """LPIPS distance between two batches of NHWC RGB images in [-1, 1] -> (N,) float32.

    net: "alex" (what papers report by default) or "vgg". Images must be at least 32 px.
    """
    net: str = "alex"

    @nn.compact
    def __call__(self, images0: jnp.ndarray, images1: jnp.ndarray) -> jnp.ndarray:
        if self.net not in TRUNKS:
            raise ValueError(f"LPIPS net must be one of {sorted(TRUNKS)}, got {self.net!r}")
        if images0.shape != images1.shape or images0.ndim != 4 or images0.shape[-1] != 3:
            raise ValueError(f"LPIPS needs two (N, H, W, 3) batches of one shape, got {images0.shape} "
                             f"and {images1.shape}")
        both = jnp.concatenate([images0, images1]).astype(jnp.float32)  # one trunk pass for both
        both = (both - jnp.asarray(SHIFT)) / jnp.asarray(SCALE)
        distance = jnp.zeros((images0.shape[0],), jnp.float32)
        for k, tap in enumerate(_trunk_taps(both, TRUNKS[self.net])):
            tap0, tap1 = jnp.split(_unit_channels(tap), 2)
            weighted = nn.Conv(1, (1, 1), use_bias=False, precision=_HIGHEST, name=f"lin{k}")((tap0 - tap1) ** 2)
            distance = distance + weighted.mean(axis=(1, 2, 3))
        return distance
