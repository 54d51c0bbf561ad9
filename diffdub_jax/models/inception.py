"""The FID Inception-v3 (pytorch-fid's `InceptionV3([3])`, TensorFlow's 2015-12-05 graph), in Flax.

FID numbers are only comparable when every paper embeds images with the same network and the
same preprocessing, so this is that network to the pixel: images in [0, 1] of any size are resized
to 299x299 (bilinear, half-pixel centres, no antialiasing: torch's `F.interpolate(...,
align_corners=False)`, which `jax.image.resize(..., antialias=False)` equals to float32 rounding
for up- and downsampling alike; jax's default antialias=True would blur downsampled inputs),
mapped to [-1, 1], and read at the 2048-d global average pool ("pool3"). The FID variant differs
from torchvision's Inception-v3 in its pooling branches: the 3x3 average pools ignore the zero
padding (TensorFlow's behaviour), and the last block pools with a max instead of an average.

Modules are named after torchvision's attributes (`Mixed_5b/branch5x5_1/conv`), so pytorch-fid's
state dict converts mechanically (diffdub_jax/convert/inception.py). Batch norm is inference only
(running statistics as parameters, eps 1e-3 as torchvision's BasicConv2d); convolutions run at
HIGHEST precision so a metric does not depend on the accelerator's float32 matmul mode.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from diffdub_jax.models.syncnet import FrozenBatchNorm

INPUT_SIZE = 299
FEATURES = 2048

Pair = int | tuple[int, int]


def _pair(value: Pair) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else value


class BasicConv2d(nn.Module):
    """torchvision's BasicConv2d: convolution without bias, batch norm, ReLU."""

    features: int
    kernel: Pair
    strides: Pair = 1
    padding: Pair = 0

    @nn.compact
    def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
        x = nn.Conv(self.features, _pair(self.kernel), _pair(self.strides),
                    padding=[(p, p) for p in _pair(self.padding)], use_bias=False,
                    precision=jax.lax.Precision.HIGHEST, name="conv")(x)
        return nn.relu(FrozenBatchNorm(epsilon=1e-3, name="bn")(x))


def _chain(x: jnp.ndarray, *layers: nn.Module) -> jnp.ndarray:
    for layer in layers:
        x = layer(x)
    return x


def _average_pool(x: jnp.ndarray) -> jnp.ndarray:
    """3x3 stride-1 average whose border windows divide by the pixels inside (TensorFlow's)."""
    return nn.avg_pool(x, (3, 3), padding=((1, 1), (1, 1)), count_include_pad=False)


def _reduce_pool(x: jnp.ndarray) -> jnp.ndarray:
    return nn.max_pool(x, (3, 3), strides=(2, 2))


class InceptionA(nn.Module):
    """Mixed_5b..5d (pytorch-fid's FIDInceptionA)."""

    pool_features: int

    @nn.compact
    def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
        return jnp.concatenate([
            BasicConv2d(64, 1, name="branch1x1")(x),
            _chain(x, BasicConv2d(48, 1, name="branch5x5_1"), BasicConv2d(64, 5, padding=2, name="branch5x5_2")),
            _chain(x, BasicConv2d(64, 1, name="branch3x3dbl_1"), BasicConv2d(96, 3, padding=1, name="branch3x3dbl_2"),
                   BasicConv2d(96, 3, padding=1, name="branch3x3dbl_3")),
            BasicConv2d(self.pool_features, 1, name="branch_pool")(_average_pool(x)),
        ], axis=-1)


class InceptionB(nn.Module):
    """Mixed_6a: the 35 -> 17 px reduction."""

    @nn.compact
    def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
        return jnp.concatenate([
            BasicConv2d(384, 3, strides=2, name="branch3x3")(x),
            _chain(x, BasicConv2d(64, 1, name="branch3x3dbl_1"), BasicConv2d(96, 3, padding=1, name="branch3x3dbl_2"),
                   BasicConv2d(96, 3, strides=2, name="branch3x3dbl_3")),
            _reduce_pool(x),
        ], axis=-1)


class InceptionC(nn.Module):
    """Mixed_6b..6e (pytorch-fid's FIDInceptionC): factorised 7x7 convolutions."""

    channels_7x7: int

    @nn.compact
    def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
        c7 = self.channels_7x7
        row, column = {"kernel": (1, 7), "padding": (0, 3)}, {"kernel": (7, 1), "padding": (3, 0)}
        return jnp.concatenate([
            BasicConv2d(192, 1, name="branch1x1")(x),
            _chain(x, BasicConv2d(c7, 1, name="branch7x7_1"), BasicConv2d(c7, **row, name="branch7x7_2"),
                   BasicConv2d(192, **column, name="branch7x7_3")),
            _chain(x, BasicConv2d(c7, 1, name="branch7x7dbl_1"), BasicConv2d(c7, **column, name="branch7x7dbl_2"),
                   BasicConv2d(c7, **row, name="branch7x7dbl_3"), BasicConv2d(c7, **column, name="branch7x7dbl_4"),
                   BasicConv2d(192, **row, name="branch7x7dbl_5")),
            BasicConv2d(192, 1, name="branch_pool")(_average_pool(x)),
        ], axis=-1)


class InceptionD(nn.Module):
    """Mixed_7a: the 17 -> 8 px reduction."""

    @nn.compact
    def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
        return jnp.concatenate([
            _chain(x, BasicConv2d(192, 1, name="branch3x3_1"), BasicConv2d(320, 3, strides=2, name="branch3x3_2")),
            _chain(x, BasicConv2d(192, 1, name="branch7x7x3_1"),
                   BasicConv2d(192, (1, 7), padding=(0, 3), name="branch7x7x3_2"),
                   BasicConv2d(192, (7, 1), padding=(3, 0), name="branch7x7x3_3"),
                   BasicConv2d(192, 3, strides=2, name="branch7x7x3_4")),
            _reduce_pool(x),
        ], axis=-1)


class InceptionE(nn.Module):
    """Mixed_7b (average pool branch, FIDInceptionE_1) and Mixed_7c (max_pool=True: the FID
    graph's 3x3 stride-1 max pool, FIDInceptionE_2)."""

    max_pool: bool = False

    @nn.compact
    def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
        def split(h: jnp.ndarray, prefix: str) -> jnp.ndarray:  # (1, 3) and (3, 1) side by side
            return jnp.concatenate([BasicConv2d(384, (1, 3), padding=(0, 1), name=f"{prefix}a")(h),
                                    BasicConv2d(384, (3, 1), padding=(1, 0), name=f"{prefix}b")(h)], axis=-1)

        pooled = (nn.max_pool(x, (3, 3), padding=((1, 1), (1, 1))) if self.max_pool else _average_pool(x))
        return jnp.concatenate([
            BasicConv2d(320, 1, name="branch1x1")(x),
            split(BasicConv2d(384, 1, name="branch3x3_1")(x), "branch3x3_2"),
            split(_chain(x, BasicConv2d(448, 1, name="branch3x3dbl_1"),
                         BasicConv2d(384, 3, padding=1, name="branch3x3dbl_2")), "branch3x3dbl_3"),
            BasicConv2d(192, 1, name="branch_pool")(pooled),
        ], axis=-1)


def resize_to_input(images: jnp.ndarray) -> jnp.ndarray:
    """(N, H, W, C) -> (N, 299, 299, C) as pytorch-fid resizes: bilinear, align_corners=False, no antialiasing."""
    return jax.image.resize(images, (images.shape[0], INPUT_SIZE, INPUT_SIZE, images.shape[-1]), "bilinear",
                            antialias=False)


class FIDInception(nn.Module):
    """(N, H, W, 3) RGB float images in [0, 1], any size -> (N, 2048) float32 pool3 features."""

    @nn.compact
    def __call__(self, images: jnp.ndarray) -> jnp.ndarray:
        if images.ndim != 4 or images.shape[-1] != 3:
            raise ValueError(f"FID Inception needs (N, H, W, 3) RGB images, got {images.shape}")
        x = resize_to_input(images.astype(jnp.float32)) * 2 - 1
        x = _chain(x, BasicConv2d(32, 3, strides=2, name="Conv2d_1a_3x3"), BasicConv2d(32, 3, name="Conv2d_2a_3x3"),
                   BasicConv2d(64, 3, padding=1, name="Conv2d_2b_3x3"), _reduce_pool,
                   BasicConv2d(80, 1, name="Conv2d_3b_1x1"), BasicConv2d(192, 3, name="Conv2d_4a_3x3"), _reduce_pool,
                   InceptionA(32, name="Mixed_5b"), InceptionA(64, name="Mixed_5c"), InceptionA(64, name="Mixed_5d"),
                   InceptionB(name="Mixed_6a"), InceptionC(128, name="Mixed_6b"), InceptionC(160, name="Mixed_6c"),
                   InceptionC(160, name="Mixed_6d"), InceptionC(192, name="Mixed_6e"), InceptionD(name="Mixed_7a"),
                   InceptionE(name="Mixed_7b"), InceptionE(max_pool=True, name="Mixed_7c"))
        return x.mean(axis=(1, 2))
