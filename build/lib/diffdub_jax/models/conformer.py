"""ESPnet-style Conformer encoder, as the release's stage 2 builds it (post-LN, macaron FFN).

Block: x + 1/2 FFN -> LN, x + rel-pos MHSA -> LN, x + conv module -> LN, x + 1/2 FFN -> LN, LN.
Module and parameter names follow ESPnet's (`encoders_0/self_attn/linear_q`, `pos_bias_u`,
`conv_module/depthwise_conv`, `norm_ff_macaron`, ...), so its state dicts convert mechanically.

Padding: `mask` (batch, time) marks the real frames. Attention ignores padded keys, the conv module
zeroes padded frames before its depthwise conv and BatchNorm takes its batch statistics over real
frames only, so a padded sequence gives the same outputs at its real frames as the unpadded one.
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

LAYER_NORM_EPS = 1e-12  # ESPnet's LayerNorm subclass


def relative_positional_encoding(length: int, dim: int) -> jnp.ndarray:
    """(2 * length - 1, dim) sinusoids of the relative positions length-1, ..., 0, ..., -(length-1)
    (ESPnet's `RelPositionalEncoding`, Transformer-XL appendix B), sin on even channels."""
    position = jnp.arange(length - 1, -length, -1, dtype=jnp.float32)[:, None]
    inverse_frequency = jnp.exp(jnp.arange(0, dim, 2, dtype=jnp.float32) * -(math.log(10000.0) / dim))
    angle = position * inverse_frequency
    return jnp.stack([jnp.sin(angle), jnp.cos(angle)], axis=-1).reshape(2 * length - 1, dim)


def relative_shift(scores: jnp.ndarray) -> jnp.ndarray:
    """(..., T, 2T-1) scores against relative positions -> (..., T, T) with [i, j] taken at the
    relative position i - j, i.e. column T-1-i+j. Pad-and-reshape (Transformer-XL) instead of a
    gather: only reshapes and a slice, which every backend tiles well."""
    *lead, length, width = scores.shape
    padded = jnp.pad(scores, [(0, 0)] * len(lead) + [(0, 0), (1, 0)])
    padded = padded.reshape(*lead, width + 1, length)[..., 1:, :]
    return padded.reshape(*lead, length, width)[..., : width // 2 + 1]


def masked_softmax(scores: jnp.ndarray, key_mask: jnp.ndarray | None) -> jnp.ndarray:
    """Softmax over the last axis that gives padded keys (key_mask False) exactly zero weight."""
    if key_mask is None:
        return jax.nn.softmax(scores, axis=-1)
    key_mask = key_mask[:, None, None, :]
    scores = jnp.where(key_mask, scores, jnp.finfo(scores.dtype).min)
    return jnp.where(key_mask, jax.nn.softmax(scores, axis=-1), 0.0)


class RelPositionSelfAttention(nn.Module):
    """Multi-head self-attention with relative positions and the content/position biases u, v."""
    num_heads: int
    dropout_rate: float

    @nn.compact
    def __call__(self, x: jnp.ndarray, pos_emb: jnp.ndarray, mask: jnp.ndarray | None,
                 deterministic: bool) -> jnp.ndarray:
        batch, length, dim = x.shape
        head_dim = dim // self.num_heads

        def heads(name, inputs, use_bias=True):
            return nn.Dense(dim, use_bias=use_bias, name=name)(inputs).reshape(
                *inputs.shape[:-1], self.num_heads, head_dim)

        q, k, v = heads("linear_q", x), heads("linear_k", x), heads("linear_v", x)
        p = heads("linear_pos", pos_emb, use_bias=False)  # (2T-1, H, D)
        bias_init = nn.initializers.xavier_uniform()
        pos_bias_u = self.param("pos_bias_u", bias_init, (self.num_heads, head_dim))
        pos_bias_v = self.param("pos_bias_v", bias_init, (self.num_heads, head_dim))
        content = jnp.einsum("bqhd,bkhd->bhqk", q + pos_bias_u, k)
        position = relative_shift(jnp.einsum("bqhd,phd->bhqp", q + pos_bias_v, p))
        weights = masked_softmax((content + position) / math.sqrt(head_dim), mask)
        weights = nn.Dropout(self.dropout_rate)(weights, deterministic=deterministic)
        out = jnp.einsum("bhqk,bkhd->bqhd", weights, v).reshape(batch, length, dim)
        return nn.Dense(dim, name="linear_out")(out)


class FeedForward(nn.Module):
    """Dense -> Swish -> dropout -> Dense (ESPnet `PositionwiseFeedForward`)."""
    hidden_units: int
    dropout_rate: float

    @nn.compact
    def __call__(self, x: jnp.ndarray, deterministic: bool) -> jnp.ndarray:
        h = nn.swish(nn.Dense(self.hidden_units, name="w_1")(x))
        h = nn.Dropout(self.dropout_rate)(h, deterministic=deterministic)
        return nn.Dense(x.shape[-1], name="w_2")(h)


class DepthwiseConv1D(nn.Module):
    """Per-channel 1-D convolution with zero 'same' padding, as a sum of shifted products: XLA's
    grouped convolution is slow on CPU (a train step of the synthetic preset ran 6x slower with it),
    and this form is as fast everywhere. Parameters have nn.Conv's layout: kernel (K, 1, C), bias."""
    kernel_size: int

    @nn.compact
    def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
        channels, length = x.shape[-1], x.shape[-2]
        kernel = self.param("kernel", nn.initializers.lecun_normal(), (self.kernel_size, 1, channels))
        bias = self.param("bias", nn.initializers.zeros, (channels,))
        half = (self.kernel_size - 1) // 2
        padded = jnp.pad(x, [(0, 0)] * (x.ndim - 2) + [(half, half), (0, 0)])
        out = sum(padded[..., k : k + length, :] * kernel[k, 0] for k in range(self.kernel_size))
        return out + bias


class ConvolutionModule(nn.Module):
    """Pointwise conv -> GLU -> depthwise conv -> BatchNorm -> Swish -> pointwise conv."""
    kernel_size: int

    @nn.compact
    def __call__(self, x: jnp.ndarray, mask: jnp.ndarray | None, train: bool) -> jnp.ndarray:
        channels = x.shape[-1]
        value, gate = jnp.split(nn.Dense(2 * channels, name="pointwise_conv1")(x), 2, axis=-1)
        h = value * jax.nn.sigmoid(gate)
        frame_mask = None if mask is None else mask[..., None]
        if frame_mask is not None:
            h = jnp.where(frame_mask, h, 0.0)
        h = DepthwiseConv1D(self.kernel_size, name="depthwise_conv")(h)
        h = nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5, name="norm")(
            h, mask=frame_mask)
        return nn.Dense(channels, name="pointwise_conv2")(nn.swish(h))


class ConformerBlock(nn.Module):
    """One post-LN macaron Conformer block (ESPnet `EncoderLayer`, normalize_before=False)."""
    num_heads: int
    hidden_units: int
    kernel_size: int
    dropout_rate: float
    attention_dropout_rate: float

    @nn.compact
    def __call__(self, x: jnp.ndarray, pos_emb: jnp.ndarray, mask: jnp.ndarray | None,
                 train: bool) -> jnp.ndarray:
        deterministic = not train

        def norm(name):
            return nn.LayerNorm(epsilon=LAYER_NORM_EPS, name=name)

        def drop(h):
            return nn.Dropout(self.dropout_rate)(h, deterministic=deterministic)

        x = norm("norm_ff_macaron")(x + 0.5 * drop(
            FeedForward(self.hidden_units, self.dropout_rate, name="feed_forward_macaron")(x, deterministic)))
        x = norm("norm_mha")(x + drop(RelPositionSelfAttention(
            self.num_heads, self.attention_dropout_rate, name="self_attn")(x, pos_emb, mask, deterministic)))
        x = norm("norm_conv")(x + drop(ConvolutionModule(self.kernel_size, name="conv_module")(x, mask, train)))
        x = norm("norm_ff")(x + 0.5 * drop(
            FeedForward(self.hidden_units, self.dropout_rate, name="feed_forward")(x, deterministic)))
        return norm("norm_final")(x)


class ConformerEncoder(nn.Module):
    """Scales x by sqrt(d), adds nothing else (positions enter the attention), runs the blocks.
    ESPnet applies its positional dropout to both x and the relative encoding; so do we."""
    num_blocks: int
    num_heads: int
    hidden_units: int
    kernel_size: int
    dropout_rate: float
    attention_dropout_rate: float

    @nn.compact
    def __call__(self, x: jnp.ndarray, mask: jnp.ndarray | None = None, *, train: bool = False) -> jnp.ndarray:
        dim = x.shape[-1]
        positional_dropout = nn.Dropout(self.dropout_rate)
        x = positional_dropout(x * math.sqrt(dim), deterministic=not train)
        pos_emb = positional_dropout(relative_positional_encoding(x.shape[1], dim), deterministic=not train)
        for index in range(self.num_blocks):
            x = ConformerBlock(self.num_heads, self.hidden_units, self.kernel_size, self.dropout_rate,
                               self.attention_dropout_rate, name=f"encoders_{index}")(x, pos_emb, mask, train)
        return x
