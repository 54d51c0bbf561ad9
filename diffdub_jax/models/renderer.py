"""The stage-1 renderer: semantic encoder + denoiser UNet, trained end to end (DESIGN §2.2)."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from diffdub_jax.errors import InvalidInputError
from diffdub_jax.models.encoder import SemanticEncoder
from diffdub_jax.models.unet import DenoiserUNet


def space_to_depth(images: jnp.ndarray, patch: int) -> jnp.ndarray:
    """(B, H, W, C) -> (B, H/p, W/p, p*p*C): each p x p pixel patch becomes one position's channels."""
    if patch == 1:
        return images
    b, h, w, c = images.shape
    patches = images.reshape(b, h // patch, patch, w // patch, patch, c).transpose(0, 1, 3, 2, 4, 5)
    return patches.reshape(b, h // patch, w // patch, patch * patch * c)


def depth_to_space(features: jnp.ndarray, patch: int) -> jnp.ndarray:
    """The inverse of space_to_depth."""
    if patch == 1:
        return features
    b, h, w, c = features.shape
    pixels = features.reshape(b, h, w, patch, patch, c // (patch * patch)).transpose(0, 1, 3, 2, 4, 5)
    return pixels.reshape(b, h * patch, w * patch, c // (patch * patch))


LOW_PASS_CELLS = 8


class Renderer(nn.Module):
    """Parameters live under 'unet' and 'encoder', as the release's `*` and `encoder.*` keys.

    With patch_size p > 1 both networks see p x p pixel patches as channels, so a renderer draws
    images p times larger at about the cost of images p times smaller (Simple Diffusion's
    patching), instead of drawing small and upscaling; the release's models have p = 1.
    With reference_residual (an x0-predicting renderer), the network's output is added to the
    reference frame low-passed: the skin's tone and light come from the person's own frame instead
    of from what a small network learned, while the reference's mouth (gone in the low pass) does
    not show through the one drawn.
    """

    unet: DenoiserUNet
    encoder: SemanticEncoder
    patch_size: int = 1
    reference_residual: bool = False

    def __call__(self, x_t: jnp.ndarray, reference: jnp.ndarray, t: jnp.ndarray, crop: jnp.ndarray,
                 *, train: bool = False) -> jnp.ndarray:
        """Predicted epsilon for x_t given reference frame(s) and the encoder crop of the target."""
        return self.denoise(x_t, reference, t, self.encode(crop), train=train)

    def encode(self, crop: jnp.ndarray) -> jnp.ndarray:
        return self.encoder(space_to_depth(crop, self.patch_size))

    def denoise(self, x_t: jnp.ndarray, reference: jnp.ndarray, t: jnp.ndarray, z_sem: jnp.ndarray,
                *, train: bool = False) -> jnp.ndarray:
        inputs = space_to_depth(jnp.concatenate([x_t, reference], axis=-1), self.patch_size)
        output = depth_to_space(self.unet(inputs, t, z_sem, train=train), self.patch_size)
        return output + low_pass(reference[..., :3]).astype(output.dtype) if self.reference_residual else output


def low_pass(images: jnp.ndarray, cells: int = LOW_PASS_CELLS) -> jnp.ndarray:
    """(B, H, W, C) images averaged over a cells x cells grid, then linearly interpolated back: the
    skin's tone and light, without the shape of the mouth."""
    b, h, w, c = images.shape
    means = images.reshape(b, cells, h // cells, cells, w // cells, c).mean(axis=(2, 4))
    return jax.image.resize(means, images.shape, "linear")


def renderer_from_config(config: ml_collections.ConfigDict) -> Renderer:
    """The Renderer a stage-1 config describes (its `model` section, image size and references)."""
    model, num_references = config.model, config.data.num_references
    patch = model.get("patch_size", 1)  # checkpoints written before the setting existed have none
    if config.data.image_size % patch:
        raise InvalidInputError(f"data.image_size {config.data.image_size} is not a multiple of model.patch_size {patch}")
    image_size, pixels = config.data.image_size // patch, patch * patch
    dtype = jnp.bfloat16 if model.compute_dtype == "bfloat16" else jnp.float32
    unet = DenoiserUNet(
        image_size=image_size, in_channels=3 * (1 + num_references) * pixels, out_channels=3 * pixels,
        model_channels=model.channels,
        channel_mult=tuple(model.channel_mult), num_res_blocks=model.num_res_blocks,
        attention_resolutions=tuple(model.attention_resolutions), embed_channels=model.embed_channels,
        num_heads=model.num_heads, dropout=model.dropout, dtype=dtype)
    encoder = SemanticEncoder(
        image_size=image_size, in_channels=3 * pixels, model_channels=model.channels,
        channel_mult=tuple(model.encoder_channel_mult), num_res_blocks=model.num_res_blocks,
        attention_resolutions=tuple(model.attention_resolutions), out_channels=model.embed_channels,
        num_heads=model.num_heads, dtype=dtype)
    residual = bool(model.get("reference_residual", False))  # older checkpoints have no such setting
    if residual and config.diffusion.get("prediction", "epsilon") != "x0":
        raise InvalidInputError("model.reference_residual adds the reference frame to a predicted image: it needs "
                                "diffusion.prediction='x0'")
    return Renderer(unet=unet, encoder=encoder, patch_size=patch, reference_residual=residual)


def init_variables(model: Renderer, rng: jax.Array) -> dict:
    """{'params'} of a freshly initialised renderer (traceable: jit it with out_shardings)."""
    pixels = model.patch_size * model.patch_size
    size, channels = model.unet.image_size * model.patch_size, model.unet.in_channels // pixels
    image = jnp.zeros((1, size, size, 3), jnp.float32)
    reference = jnp.zeros((1, size, size, channels - 3), jnp.float32)
    return {"params": model.init(rng, image, reference, jnp.zeros((1,), jnp.int32), image)["params"]}

