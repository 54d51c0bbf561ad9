"""The stage-1 renderer: semantic encoder + denoiser UNet, trained end to end (DESIGN §2.2)."""

from __future__ import annotations

import flax.linen as nn
import jax
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


def renderer_from_config(config: ml_collections.ConfigDict) -> Renderer:
    """The Renderer a stage-1 config describes (its `model` section, image size and references)."""
    model, image_size, num_references = config.model, config.data.image_size, config.data.num_references
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


def init_variables(model: Renderer, rng: jax.Array) -> dict:
    """{'params'} of a freshly initialised renderer (traceable: jit it with out_shardings)."""
    size, channels = model.unet.image_size, model.unet.in_channels
    image = jnp.zeros((1, size, size, 3), jnp.float32)
    reference = jnp.zeros((1, size, size, channels - 3), jnp.float32)
    return {"params": model.init(rng, image, reference, jnp.zeros((1,), jnp.int32), image)["params"]}

