"""SyncNet v2 (Chung & Zisserman 2016, joonson/syncnet_python's `syncnet_v2.model`): the audio and
lip towers whose embedding distance is the LSE-D / LSE-C lip-sync metric.

Inference only: batch norm always uses its running statistics, which are ordinary parameters here
(`scale`, `bias`, `mean`, `var`), so one params tree holds the whole network. Layers are named by
their index in the release's `nn.Sequential`s (`netcnnlip/0` for `netcnnlip.0`), so its state dict
converts mechanically (diffdub_jax/convert/syncnet.py). Convolutions run at HIGHEST precision: a
metric must not change with the accelerator's default float32 matmul mode.
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

EMBEDDING_SIZE = 1024
LIP_FRAMES, LIP_SIZE = 5, 224  # a lip window: 5 frames of 224x224 BGR pixels in [0, 255]
MFCC_COEFFICIENTS, MFCC_FRAMES = 13, 20  # an audio window: 13 MFCCs x 20 frames at 100 Hz (0.2 s)

# (kind, arguments) per position of the release's nn.Sequential; "conv": features, kernel, stride,
# padding per spatial axis; "pool": window, stride, padding (max pooling, -inf padded).
_AUDIO_CNN = (
    ("conv", (64, (3, 3), (1, 1), (1, 1))), ("bn", ()), ("relu", ()), ("pool", ((1, 1), (1, 1), (0, 0))),
    ("conv", (192, (3, 3), (1, 1), (1, 1))), ("bn", ()), ("relu", ()), ("pool", ((3, 3), (1, 2), (0, 0))),
    ("conv", (384, (3, 3), (1, 1), (1, 1))), ("bn", ()), ("relu", ()),
    ("conv", (256, (3, 3), (1, 1), (1, 1))), ("bn", ()), ("relu", ()),
    ("conv", (256, (3, 3), (1, 1), (1, 1))), ("bn", ()), ("relu", ()), ("pool", ((3, 3), (2, 2), (0, 0))),
    ("conv", (512, (5, 4), (1, 1), (0, 0))), ("bn", ()), ("relu", ()),
)
_LIP_CNN = (
    ("conv", (96, (5, 7, 7), (1, 2, 2), (0, 0, 0))), ("bn", ()), ("relu", ()),
    ("pool", ((1, 3, 3), (1, 2, 2), (0, 0, 0))),
    ("conv", (256, (1, 5, 5), (1, 2, 2), (0, 1, 1))), ("bn", ()), ("relu", ()),
    ("pool", ((1, 3, 3), (1, 2, 2), (0, 1, 1))),
    ("conv", (256, (1, 3, 3), (1, 1, 1), (0, 1, 1))), ("bn", ()), ("relu", ()),
    ("conv", (256, (1, 3, 3), (1, 1, 1), (0, 1, 1))), ("bn", ()), ("relu", ()),
    ("conv", (256, (1, 3, 3), (1, 1, 1), (0, 1, 1))), ("bn", ()), ("relu", ()),
    ("pool", ((1, 3, 3), (1, 2, 2), (0, 0, 0))),
    ("conv", (512, (1, 6, 6), (1, 1, 1), (0, 0, 0))), ("bn", ()), ("relu", ()),
)


def _fc(embedding_size: int) -> tuple:
    return ("dense", (512,)), ("bn", ()), ("relu", ()), ("dense", (embedding_size,))


class FrozenBatchNorm(nn.Module):
    """Batch norm with fixed statistics (torch's eval mode, eps 1e-5), over the last axis."""

    epsilon: float = 1e-5

    @nn.compact
    def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
        features = x.shape[-1]
        scale = self.param("scale", nn.initializers.ones, (features,))
        bias = self.param("bias", nn.initializers.zeros, (features,))
        mean = self.param("mean", nn.initializers.zeros, (features,))
        var = self.param("var", nn.initializers.ones, (features,))
        return (x - mean) * (scale * jax.lax.rsqrt(var + self.epsilon)) + bias


class _Sequential(nn.Module):
    """A release nn.Sequential from its layer list, each layer named by its position."""

    layers: Sequence[tuple]

    @nn.compact
    def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
        precision = jax.lax.Precision.HIGHEST
        for index, (kind, args) in enumerate(self.layers):
            name = str(index)
            if kind == "conv":
                features, kernel, stride, padding = args
                x = nn.Conv(features, kernel, stride, [(p, p) for p in padding], precision=precision, name=name)(x)
            elif kind == "dense":
                x = nn.Dense(args[0], precision=precision, name=name)(x)
            elif kind == "bn":
                x = FrozenBatchNorm(name=name)(x)
            elif kind == "relu":
                x = nn.relu(x)
            else:
                window, stride, padding = args
                x = nn.max_pool(x, window, stride, [(p, p) for p in padding])
        return x


class SyncNet(nn.Module):
    """SyncNet v2's two towers. Each embedding method takes a batch of windows; `__call__` runs
    both (it exists so `init` creates every parameter)."""

    embedding_size: int = EMBEDDING_SIZE

    def setup(self):
        self.netcnnaud = _Sequential(_AUDIO_CNN)
        self.netfcaud = _Sequential(_fc(self.embedding_size))
        self.netcnnlip = _Sequential(_LIP_CNN)
        self.netfclip = _Sequential(_fc(self.embedding_size))

    def embed_audio(self, mfcc: jnp.ndarray) -> jnp.ndarray:
        """(N, 13, 20, 1) MFCC windows (coefficient x time, NHWC) -> (N, embedding_size)."""
        features = self.netcnnaud(mfcc)
        return self.netfcaud(features.reshape(features.shape[0], -1))

    def embed_lips(self, clips: jnp.ndarray) -> jnp.ndarray:
        """(N, 5, 224, 224, 3) BGR clips in [0, 255] (NDHWC) -> (N, embedding_size)."""
        features = self.netcnnlip(clips)
        return self.netfclip(features.reshape(features.shape[0], -1))

    def __call__(self, mfcc: jnp.ndarray, clips: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
        return self.embed_audio(mfcc), self.embed_lips(clips)
