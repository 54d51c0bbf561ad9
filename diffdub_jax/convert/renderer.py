"""Official stage-1 checkpoints (DiffDub `stage1.ckpt`, diffae FFHQ-256 `last.ckpt`) -> Orbax.

Both are Lightning files holding `model.*`, `ema_model.*` (and an `x_T` buffer, dropped). The
UNet's first conv tells how many reference frames the checkpoint was trained with: 6 input
channels for DiffDub, 3 for diffae (no reference), which `train --config.train.init_from` then
loads into a DiffDub model by copying every parameter of matching shape.
"""

from __future__ import annotations

import jax
import ml_collections

from diffdub_jax import checkpoints
from diffdub_jax.convert import torch_state
from diffdub_jax.training import loop

RENDERER_PREFIXES = {"encoder": "encoder.", "unet": ""}


def convert_renderer_checkpoint(path: str, config: ml_collections.ConfigDict, output: str,
                                weights: str = "ema_model",
                                state_dict: dict | None = None) -> ml_collections.ConfigDict:
    """Converts `path` (or its already loaded state_dict) into an Orbax workdir at `output`;
    returns the config it matches."""
    state_dict = torch_state.load_torch_checkpoint(path) if state_dict is None else state_dict
    if any(key.startswith(weights + ".") for key in state_dict):
        state_dict = torch_state.select_prefix(state_dict, weights + ".")
    state_dict.pop("x_T", None)
    first_conv = state_dict.get("input_blocks.0.0.weight")
    if first_conv is None:
        raise ValueError(f"{path}: not a stage-1 renderer checkpoint (no input_blocks.0.0.weight); "
                         f"keys look like {sorted(state_dict)[:5]}")
    config = config.copy_and_resolve_references()
    config.data.num_references = first_conv.shape[1] // 3 - 1
    model = loop.renderer_model(config)
    template = jax.eval_shape(lambda: loop.init_params(model, config, jax.random.key(0)))
    try:
        params = torch_state.convert_state_dict(state_dict, template, RENDERER_PREFIXES)
    except ValueError as error:
        raise ValueError(f"{path}: {error}; pass the --config preset it was trained with") from None
    run = checkpoints.RunCheckpoints(output, keep=1, async_save=False)
    run.save(0, {"step": 0, "params": params, "ema_params": params}, {}, config)
    run.wait()
    run.close()
    return config
