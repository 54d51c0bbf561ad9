"""HuBERT (and wav2vec 2.0-style) speech encoder in Flax, inference only, returning every hidden state.

Stage 2 reads all hidden states (the projection output and one per transformer layer), so this
module returns them stacked: (num_hidden_layers + 1, batch, frames, hidden). The last state of the
pre-LN ("stable layer norm", hubert-large) layout is taken AFTER the encoder's final LayerNorm, as
transformers 4.x returned it when the DiffDub authors extracted their features (transformers 5
returns it before that norm; its `last_hidden_state` is ours).

Submodule names follow transformers' `HubertModel` state dict (`feature_extractor.conv_layers.0.conv`
-> `feature_extractor/conv_layers_0/conv`), so `diffdub_jax.convert.hubert` maps it mechanically.
The positional conv has a plain kernel: weight norm only reparametrises training, so the converter
folds g * v / |v| into one kernel.

A per-sample validity mask lets a fixed-length, zero-padded window give the same frames as the
unpadded audio: padded frames are zeroed before the positional conv and masked out of attention
(as transformers does with an attention mask), and the GroupNorm of the "group" feature encoder
takes its statistics over valid steps only.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

Dtype = Any

ACTIVATIONS: dict[str, Callable[[jnp.ndarray], jnp.ndarray]] = {
    "gelu": functools.partial(nn.gelu, approximate=False),
    "gelu_new": functools.partial(nn.gelu, approximate=True),
    "gelu_pytorch_tanh": functools.partial(nn.gelu, approximate=True),
    "relu": nn.relu,
    "silu": nn.silu,
    "swish": nn.silu,
}


def _valid_windows(valid: jnp.ndarray, kernel: int, stride: int, length: int) -> jnp.ndarray:
    """(batch, length) float mask of conv outputs whose whole window lies on valid input."""
    counts = jnp.pad(jnp.cumsum(valid, axis=1), ((0, 0), (1, 0)))
    starts = jnp.arange(length) * stride
    return (counts[:, starts + kernel] - counts[:, starts] >= kernel - 0.5).astype(valid.dtype)


class MaskedGroupNorm(nn.Module):
    """GroupNorm with one group per channel (statistics over time), counting valid steps only."""
    epsilon: float = 1e-5

    @nn.compact
    def __call__(self, x: jnp.ndarray, valid: jnp.ndarray) -> jnp.ndarray:
        channels = x.shape[-1]
        scale = self.param("scale", nn.initializers.ones, (channels,), jnp.float32)
        bias = self.param("bias", nn.initializers.zeros, (channels,), jnp.float32)
        h, m = x.astype(jnp.float32), valid[..., None]
        count = jnp.maximum(m.sum(axis=1, keepdims=True), 1.0)
        mean = (h * m).sum(axis=1, keepdims=True) / count
        var = (jnp.square(h - mean) * m).sum(axis=1, keepdims=True) / count
        return ((h - mean) * jax.lax.rsqrt(var + self.epsilon) * scale + bias).astype(x.dtype)


class ConvLayer(nn.Module):
    """One feature-encoder conv: conv -> [LayerNorm over channels | GroupNorm over time] -> act."""
    features: int
    kernel: int
    stride: int
    use_bias: bool
    norm: str | None  # None, "layer" or "group"
    activation: str
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jnp.ndarray, valid: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
        x = nn.Conv(self.features, (self.kernel,), strides=(self.stride,), padding="VALID",
                    use_bias=self.use_bias, dtype=self.dtype, name="conv")(x)
        valid = _valid_windows(valid, self.kernel, self.stride, x.shape[1])
        if self.norm == "layer":
            x = nn.LayerNorm(epsilon=1e-5, dtype=self.dtype, name="layer_norm")(x)
        elif self.norm == "group":
            x = MaskedGroupNorm(name="layer_norm")(x, valid)
        return ACTIVATIONS[self.activation](x), valid


class Attention(nn.Module):
    """Multi-head self-attention over valid keys."""
    hidden: int
    heads: int
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jnp.ndarray, valid: jnp.ndarray) -> jnp.ndarray:
        batch, length, _ = x.shape

        def split(name: str) -> jnp.ndarray:
            projected = nn.Dense(self.hidden, dtype=self.dtype, name=name)(x)
            return projected.reshape(batch, length, self.heads, self.hidden // self.heads)

        mask = valid.astype(bool)[:, None, None, :]
        out = jax.nn.dot_product_attention(split("q_proj"), split("k_proj"), split("v_proj"), mask=mask)
        return nn.Dense(self.hidden, dtype=self.dtype, name="out_proj")(out.reshape(batch, length, -1))


class FeedForward(nn.Module):
    hidden: int
    intermediate: int
    activation: str
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
        x = ACTIVATIONS[self.activation](nn.Dense(self.intermediate, dtype=self.dtype, name="intermediate_dense")(x))
        return nn.Dense(self.hidden, dtype=self.dtype, name="output_dense")(x)


class EncoderLayer(nn.Module):
    """Transformer layer; pre_norm=True is the "stable layer norm" (pre-LN) placement."""
    hidden: int
    heads: int
    intermediate: int
    activation: str
    epsilon: float
    pre_norm: bool
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jnp.ndarray, valid: jnp.ndarray) -> jnp.ndarray:
        attention = Attention(self.hidden, self.heads, self.dtype, name="attention")
        feed_forward = FeedForward(self.hidden, self.intermediate, self.activation, self.dtype, name="feed_forward")
        norm = functools.partial(nn.LayerNorm, epsilon=self.epsilon, dtype=self.dtype)
        attn_norm, ffn_norm = norm(name="layer_norm"), norm(name="final_layer_norm")
        if self.pre_norm:
            x = x + attention(attn_norm(x), valid)
            return x + feed_forward(ffn_norm(x))
        x = attn_norm(x + attention(x, valid))
        return ffn_norm(x + feed_forward(x))


class PositionalConv(nn.Module):
    """Grouped conv over time with "same" output length (even kernels drop the last step), then act."""
    hidden: int
    kernel: int
    groups: int
    activation: str
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
        padding = ((self.kernel // 2, (self.kernel - 1) // 2),)
        x = nn.Conv(self.hidden, (self.kernel,), padding=padding, feature_group_count=self.groups,
                    dtype=self.dtype, name="conv")(x)
        return ACTIVATIONS[self.activation](x)


class Hubert(nn.Module):
    """HuBERT: waveform (batch, samples) -> all hidden states (layers + 1, batch, frames, hidden).

    Field names and meanings are those of transformers' HubertConfig. `valid` (batch, samples),
    1 on real audio and 0 on padding, defaults to all ones.
    """
    conv_dim: Sequence[int] = (512,) * 7
    conv_kernel: Sequence[int] = (10, 3, 3, 3, 3, 2, 2)
    conv_stride: Sequence[int] = (5, 2, 2, 2, 2, 2, 2)
    conv_bias: bool = False
    feat_extract_norm: str = "group"
    feat_extract_activation: str = "gelu"
    feat_proj_layer_norm: bool = True
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    num_conv_pos_embeddings: int = 128
    num_conv_pos_embedding_groups: int = 16
    layer_norm_eps: float = 1e-5
    do_stable_layer_norm: bool = False
    dtype: Dtype = jnp.float32

    @property
    def stride(self) -> int:
        """Waveform samples per output frame (320 = 20 ms at 16 kHz for HuBERT)."""
        return math.prod(self.conv_stride)

    @property
    def receptive_field(self) -> int:
        """Waveform samples that make up one output frame (400 for HuBERT)."""
        field = 1
        for kernel, stride in zip(reversed(self.conv_kernel), reversed(self.conv_stride)):
            field = (field - 1) * stride + kernel
        return field

    def num_frames(self, num_samples: int) -> int:
        """Output frames for an unpadded waveform of num_samples (0 if shorter than one frame)."""
        for kernel, stride in zip(self.conv_kernel, self.conv_stride):
            num_samples = max((num_samples - kernel) // stride + 1, 0)
        return num_samples

    @nn.compact
    def __call__(self, waveform: jnp.ndarray, valid: jnp.ndarray | None = None) -> jnp.ndarray:
        if self.feat_extract_norm not in ("group", "layer"):
            raise ValueError(f"feat_extract_norm must be 'group' or 'layer', not {self.feat_extract_norm!r}")
        valid = jnp.ones(waveform.shape, jnp.float32) if valid is None else valid.astype(jnp.float32)
        x = waveform.astype(self.dtype)[..., None]
        for i, (features, kernel, stride) in enumerate(zip(self.conv_dim, self.conv_kernel, self.conv_stride)):
            norm = "layer" if self.feat_extract_norm == "layer" else ("group" if i == 0 else None)
            x, valid = ConvLayer(features, kernel, stride, self.conv_bias, norm, self.feat_extract_activation,
                                 self.dtype, name=f"feature_extractor_conv_layers_{i}")(x, valid)
        if self.feat_proj_layer_norm:
            x = nn.LayerNorm(epsilon=self.layer_norm_eps, dtype=self.dtype, name="feature_projection_layer_norm")(x)
        x = nn.Dense(self.hidden_size, dtype=self.dtype, name="feature_projection_projection")(x)
        x = x * valid[..., None].astype(x.dtype)
        x = x + PositionalConv(self.hidden_size, self.num_conv_pos_embeddings, self.num_conv_pos_embedding_groups,
                               self.feat_extract_activation, self.dtype, name="encoder_pos_conv_embed")(x)
        final_norm = nn.LayerNorm(epsilon=self.layer_norm_eps, dtype=self.dtype, name="encoder_layer_norm")
        if not self.do_stable_layer_norm:
            x = final_norm(x)
        states = [x]
        for i in range(self.num_hidden_layers):
            x = EncoderLayer(self.hidden_size, self.num_attention_heads, self.intermediate_size, self.hidden_act,
                             self.layer_norm_eps, self.do_stable_layer_norm, self.dtype,
                             name=f"encoder_layers_{i}")(x, valid)
            states.append(x)
        if self.do_stable_layer_norm:
            states[-1] = final_norm(x)
        return jnp.stack(states)
