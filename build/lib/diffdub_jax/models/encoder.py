"""The renderer's semantic encoder: eye-guided face crop -> z_sem (DESIGN §2.2).

The same block family as the UNet without time input. Its res-blocks are the release's
unconditioned form, skip(x) + conv(SiLU(GN(x))). Head: GN -> SiLU -> global mean -> 1x1 conv.
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax.numpy as jnp

from diffdub_jax.models.layers import AttentionBlock, Dtype, ResBlock, conv3x3, group_norm


class SemanticEncoder(nn.Module):
    image_size: int = 256
    in_channels: int = 3
    model_channels: int = 128
    channel_mult: Sequence[int] = (1, 1, 2, 2, 4, 4, 4)
    num_res_blocks: int = 2
    attention_resolutions: Sequence[int] = (16,)
    out_channels: int = 512
    num_heads: int = 1
    dtype: Dtype = jnp.float32

    def _res(self, out_channels: int, name: str, down: bool = False) -> ResBlock:
        return ResBlock(out_channels, use_condition=False, down=down, dtype=self.dtype, name=name)

    @nn.compact
    def __call__(self, crop: jnp.ndarray) -> jnp.ndarray:
        """crop: (B, H, W, 3) in [-1, 1] -> z_sem (B, out_channels), float32."""
        h = conv3x3(self.model_channels, self.dtype, "input_blocks_0_0")(crop.astype(self.dtype))
        block, resolution = 1, self.image_size
        for level, mult in enumerate(self.channel_mult):
            for _ in range(self.num_res_blocks):
                h = self._res(mult * self.model_channels, f"input_blocks_{block}_0")(h)
                if resolution in self.attention_resolutions:
                    h = AttentionBlock(self.num_heads, self.dtype, name=f"input_blocks_{block}_1")(h)
                block += 1
            if level != len(self.channel_mult) - 1:
                h = self._res(h.shape[-1], f"input_blocks_{block}_0", down=True)(h)
                block += 1
                resolution //= 2
        h = self._res(h.shape[-1], "middle_block_0")(h)
        h = AttentionBlock(self.num_heads, self.dtype, name="middle_block_1")(h)
        h = self._res(h.shape[-1], "middle_block_2")(h)
        h = nn.silu(group_norm(h, "out_0")).mean(axis=(1, 2), keepdims=True)
        h = nn.Conv(self.out_channels, (1, 1), dtype=self.dtype, name="out_3")(h)
        return h[:, 0, 0, :].astype(jnp.float32)
