"""The renderer's denoiser: diffae's autoencoder UNet conditioned on time and z_sem (DESIGN §2.2).

Input = concat(x_t, reference frame(s)) on channels; output = predicted epsilon (3 channels).
Levels follow `channel_mult`; each has `num_res_blocks` res-blocks going down (plus a down-sampling
res-block) and `num_res_blocks + 1` going up (skips concatenated as [h, skip]); self-attention at
the resolutions in `attention_resolutions` and always in the middle block.
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax.numpy as jnp

from diffdub_jax.models.layers import AttentionBlock, Dtype, ResBlock, conv3x3, group_norm, timestep_embedding


class DenoiserUNet(nn.Module):
    image_size: int = 256
    in_channels: int = 6
    out_channels: int = 3
    model_channels: int = 128
    channel_mult: Sequence[int] = (1, 1, 2, 2, 4, 4)
    num_res_blocks: int = 2
    attention_resolutions: Sequence[int] = (16,)
    embed_channels: int = 512
    num_heads: int = 1
    dropout: float = 0.1
    dtype: Dtype = jnp.float32

    def _res(self, out_channels: int, name: str, **kwargs) -> ResBlock:
        return ResBlock(out_channels, dropout=self.dropout, dtype=self.dtype, name=name, **kwargs)

    def _attention(self, name: str) -> AttentionBlock:
        return AttentionBlock(self.num_heads, dtype=self.dtype, name=name)

    @nn.compact
    def __call__(self, x: jnp.ndarray, t: jnp.ndarray, z_sem: jnp.ndarray, *, train: bool = False) -> jnp.ndarray:
        """x: (B, H, W, in_channels) = [x_t, references]; t: (B,) 0..T-1; z_sem: (B, embed_channels)."""
        emb = timestep_embedding(t, self.model_channels)
        emb = nn.Dense(self.embed_channels, dtype=self.dtype, name="time_embed_time_embed_0")(emb)
        emb = nn.Dense(self.embed_channels, dtype=self.dtype, name="time_embed_time_embed_2")(nn.silu(emb))
        z_sem = z_sem.astype(self.dtype)
        conditions = dict(time_emb=emb, cond=z_sem, train=train)

        h = conv3x3(self.model_channels, self.dtype, "input_blocks_0_0")(x.astype(self.dtype))
        skips, block, resolution = [h], 1, self.image_size
        for level, mult in enumerate(self.channel_mult):
            for _ in range(self.num_res_blocks):
                h = self._res(mult * self.model_channels, f"input_blocks_{block}_0")(h, **conditions)
                if resolution in self.attention_resolutions:
                    h = self._attention(f"input_blocks_{block}_1")(h)
                skips.append(h)
                block += 1
            if level != len(self.channel_mult) - 1:
                h = self._res(h.shape[-1], f"input_blocks_{block}_0", down=True)(h, **conditions)
                skips.append(h)
                block += 1
                resolution //= 2

        h = self._res(h.shape[-1], "middle_block_0")(h, **conditions)
        h = self._attention("middle_block_1")(h)
        h = self._res(h.shape[-1], "middle_block_2")(h, **conditions)

        block = 0
        for level, mult in reversed(list(enumerate(self.channel_mult))):
            for i in range(self.num_res_blocks + 1):
                h = jnp.concatenate([h, skips.pop()], axis=-1)
                h = self._res(mult * self.model_channels, f"output_blocks_{block}_0")(h, **conditions)
                layer = 1
                if resolution in self.attention_resolutions:
                    h = self._attention(f"output_blocks_{block}_1")(h)
                    layer += 1
                if level and i == self.num_res_blocks:
                    h = self._res(h.shape[-1], f"output_blocks_{block}_{layer}", up=True)(h, **conditions)
                    resolution *= 2
                block += 1

        h = nn.silu(group_norm(h, "out_0"))
        return conv3x3(self.out_channels, self.dtype, "out_2", zero_init=True)(h).astype(jnp.float32)
