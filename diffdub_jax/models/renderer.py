"""The stage-1 renderer: semantic encoder + denoiser UNet, trained end to end (DESIGN §2.2)."""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp
import ml_collections

from diffdub_jax.models.encoder import SemanticEncoder
from diffdub_jax.models.unet import DenoiserUNet


class Renderer(nn.Module):
    """Parameters live under 'unet' and 'encoder', as the release's `*` and `encoder.*` keys."""

    unet: DenoiserUNet
    encoder: SemanticEncoder

    def __call__(self, x_t: jnp.ndarray, reference: jnp.ndarray, t: jnp.ndarray, crop: jnp.ndarray,
                 *, train: bool = False) -> jnp.ndarray:
        """Predicted epsilon for x_t given reference frame(s) and the encoder crop of the target."""
        return self.denoise(x_t, reference, t, self.encode(crop), train=train)

    def encode(self, crop: jnp.ndarray) -> jnp.ndarray:
        return self.encoder(crop)

    def denoise(self, x_t: jnp.ndarray, reference: jnp.ndarray, t: jnp.ndarray, z_sem: jnp.ndarray,
                *, train: bool = False) -> jnp.ndarray:
        return self.unet(jnp.concatenate([x_t, reference], axis=-1), t, z_sem, train=train)


def build_renderer(model: ml_collections.ConfigDict, image_size: int, num_references: int) -> Renderer:
    """A Renderer from a config's `model` section."""
    dtype = jnp.bfloat16 if model.compute_dtype == "bfloat16" else jnp.float32
    unet = DenoiserUNet(
        image_size=image_size, in_channels=3 * (1 + num_references), model_channels=model.channels,
        channel_mult=tuple(model.channel_mult), num_res_blocks=model.num_res_blocks,
        attention_resolutions=tuple(model.attention_resolutions), embed_channels=model.embed_channels,
        num_heads=model.num_heads, dropout=model.dropout, dtype=dtype)
    encoder = SemanticEncoder(
        image_size=image_size, model_channels=model.channels,
        channel_mult=tuple(model.encoder_channel_mult), num_res_blocks=model.num_res_blocks,
        attention_resolutions=tuple(model.attention_resolutions), out_channels=model.embed_channels,
        num_heads=model.num_heads, dtype=dtype)
    return Renderer(unet=unet, encoder=encoder)
