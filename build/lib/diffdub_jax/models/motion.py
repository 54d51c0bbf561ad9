"""Stage 2, the motion generator: audio features + reference latents of a person -> z_sem per frame.

audio (2 frames per video frame) -> softmax-weighted sum over the audio encoder's layers ->
Conv1d stride 2 (one vector per video frame) -> cross-attention to the Conformer-encoded reference
latents -> speech encoder -> decoder (Conformers) -> Dense -> z_sem.

Names follow the release's `LatentPredictor` (`weights`, `down_sample_audio_nar`,
`reference_encoder`, `cross_attention/self_attn/in_proj`, `speech_encoder`, `coarse_decoder`,
`out_proj`) so `stage2.ckpt` converts mechanically.
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from diffdub_jax.models.conformer import ConformerEncoder, masked_softmax


class ReferenceCrossAttention(nn.Module):
    """Audio frames (queries) attend to the encoded references, then Dense -> LayerNorm.

    The release has no residual: its output is LayerNorm(Dense(dropout(attention))), so the audio
    reaches the rest of the network only through the attention weights. `residual=True` adds the
    audio stream back before the LayerNorm, the usual transformer form.
    """
    num_heads: int
    dropout_rate: float
    residual: bool

    @nn.compact
    def __call__(self, queries: jnp.ndarray, memory: jnp.ndarray, memory_mask: jnp.ndarray | None,
                 train: bool) -> jnp.ndarray:
        attention = _MultiheadAttention(self.num_heads, self.dropout_rate, name="self_attn")(
            queries, memory, memory_mask, train)
        h = nn.Dense(queries.shape[-1], name="linear1")(nn.Dropout(self.dropout_rate)(attention, deterministic=not train))
        if self.residual:
            h = queries + h
        return nn.LayerNorm(epsilon=1e-5, name="norm1")(h)


class _MultiheadAttention(nn.Module):
    """torch.nn.MultiheadAttention's math and layout (one packed q/k/v projection `in_proj`)."""
    num_heads: int
    dropout_rate: float

    @nn.compact
    def __call__(self, queries, memory, memory_mask, train):
        dim = queries.shape[-1]
        head_dim = dim // self.num_heads
        in_proj = nn.Dense(3 * dim, name="in_proj")  # packed [q | k | v], as torch stores it
        q = in_proj(queries)[..., :dim]
        k, v = jnp.split(in_proj(memory)[..., dim:], 2, axis=-1)

        def split_heads(x):
            return x.reshape(*x.shape[:-1], self.num_heads, head_dim)

        scores = jnp.einsum("bqhd,bkhd->bhqk", split_heads(q) / math.sqrt(head_dim), split_heads(k))
        weights = nn.Dropout(self.dropout_rate)(masked_softmax(scores, memory_mask), deterministic=not train)
        out = jnp.einsum("bhqk,bkhd->bqhd", weights, split_heads(v)).reshape(queries.shape)
        return nn.Dense(dim, name="out_proj")(out)


class MotionGenerator(nn.Module):
    """Predicts (batch, T, latent_dim) z_sem from audio (batch, [layers,] 2T, audio_dim) and
    references (batch, R, latent_dim). valid (batch, T) / reference_valid (batch, R) mark real
    frames; padded frames' outputs are meaningless and must be masked out of losses."""
    latent_dim: int = 512
    audio_layers: int = 25  # 0: audio features have no layer axis (log-mel)
    num_heads: int = 2
    hidden_units: int = 512
    kernel_size: int = 13
    reference_blocks: int = 2
    speech_blocks: int = 4
    decoder_blocks: int = 4
    cross_attention_heads: int = 8
    dropout_rate: float = 0.2
    cross_attention_dropout_rate: float = 0.1
    residual_cross_attention: bool = False
    normalise_latents: bool = False

    def _conformer(self, num_blocks: int, name: str) -> ConformerEncoder:
        return ConformerEncoder(num_blocks, self.num_heads, self.hidden_units, self.kernel_size,
                                self.dropout_rate, self.dropout_rate, name=name)

    @nn.compact
    def __call__(self, audio: jnp.ndarray, references: jnp.ndarray, valid: jnp.ndarray | None = None,
                 reference_valid: jnp.ndarray | None = None, *, train: bool = False) -> jnp.ndarray:
        if self.normalise_latents:
            # Identity dominates z_sem's variance; speech moves it a little around the person's own
            # latents. So the network sees references standardised by dataset statistics (set
            # after init, kept with the checkpoint like BatchNorm's) and predicts the offset from
            # the references' mean in those units, starting at zero offset (zero-initialised head).
            mean = self.variable("batch_stats", "latent_mean", jnp.zeros, (self.latent_dim,)).value
            std = self.variable("batch_stats", "latent_std", jnp.ones, (self.latent_dim,)).value
            weights = jnp.ones(references.shape[:2]) if reference_valid is None else reference_valid.astype(jnp.float32)
            reference_mean = jnp.einsum("br,brd->bd", weights, references) / jnp.maximum(weights.sum(1), 1.0)[:, None]
            references = (references - mean) / std
        if self.audio_layers:
            layer_weights = self.param("weights", nn.initializers.zeros, (self.audio_layers,))
            audio = jnp.einsum("l,blta->bta", jax.nn.softmax(layer_weights), audio)
        x = nn.Conv(self.latent_dim, (3,), strides=(2,), padding=[(1, 1)], name="down_sample_audio_nar")(audio)
        if valid is not None:
            x = jnp.where(valid[..., None], x, 0.0)
        memory = self._conformer(self.reference_blocks, "reference_encoder")(references, reference_valid, train=train)
        x = ReferenceCrossAttention(self.cross_attention_heads, self.cross_attention_dropout_rate,
                                    self.residual_cross_attention, name="cross_attention")(
            x, memory, reference_valid, train)
        x = self._conformer(self.speech_blocks, "speech_encoder")(x, valid, train=train)
        x = self._conformer(self.decoder_blocks, "coarse_decoder")(x, valid, train=train)
        if not self.normalise_latents:
            return nn.Dense(self.latent_dim, name="out_proj")(x)
        offset = nn.Dense(self.latent_dim, kernel_init=nn.initializers.zeros, name="out_proj")(x)
        return reference_mean[:, None] + offset * std


def build_motion_generator(model: ml_collections.ConfigDict) -> MotionGenerator:
    """The generator a config's `model` section describes."""
    return MotionGenerator(
        latent_dim=model.latent_dim, audio_layers=model.audio_layers, num_heads=model.num_heads,
        hidden_units=model.hidden_units, kernel_size=model.kernel_size,
        reference_blocks=model.reference_blocks, speech_blocks=model.speech_blocks,
        decoder_blocks=model.decoder_blocks, cross_attention_heads=model.cross_attention_heads,
        dropout_rate=model.dropout_rate, cross_attention_dropout_rate=model.cross_attention_dropout_rate,
        residual_cross_attention=model.residual_cross_attention,
        normalise_latents=model.get("normalise_latents", False))


def init_variables(model: MotionGenerator, audio_dim: int, rng: jax.Array, length: int = 8) -> dict:
    """Variables ({'params', 'batch_stats'}) of a freshly initialised generator."""
    audio_shape = (1, model.audio_layers, 2 * length, audio_dim) if model.audio_layers else (1, 2 * length, audio_dim)
    references = jnp.zeros((1, length, model.latent_dim), jnp.float32)
    return dict(model.init(rng, jnp.zeros(audio_shape, jnp.float32), references))
