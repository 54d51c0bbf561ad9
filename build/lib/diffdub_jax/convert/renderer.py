"""Official stage-1 checkpoints (DiffDub `stage1.ckpt`, diffae FFHQ-256 `last.ckpt`) -> Orbax.

Both are Lightning files holding `model.*`, `ema_model.*` (and an `x_T` buffer, dropped). The
UNet's first conv tells how many reference frames the checkpoint was trained with: 6 input
channels for DiffDub, 3 for diffae (no reference), which `train --config.train.init_from` then
loads into a DiffDub model by copying every parameter of matching shape.
"""

from __future__ import annotations

from typing import Mapping

import jax
import ml_collections
import numpy as np

from diffdub_jax import release
from diffdub_jax.convert import torch_state
from diffdub_jax.models.renderer import init_variables, renderer_from_config
from diffdub_jax.workdir import Workdir

RENDERER_PREFIXES = {"encoder": "encoder.", "unet": ""}


def is_renderer_state_dict(state_dict: Mapping[str, np.ndarray]) -> bool:
    """Whether a release state dict holds a stage-1 UNet (DiffDub stage1.ckpt or diffae)."""
    return any(key.endswith("input_blocks.0.0.weight") for key in state_dict)


def convert_renderer_checkpoint(path: str, output: str, weights: str | None = None,
                                config: ml_collections.ConfigDict | None = None,
                                state_dict: dict | None = None) -> ml_collections.ConfigDict:
    """Converts `path` (or its already loaded state_dict) into a workdir at `output`; returns the
    config it matches (default: the release's, diffdub_jax.release; weights default ema_model)."""
    weights = weights or "ema_model"
    config = release.renderer_config() if config is None else config
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
    model = renderer_from_config(config)
    template = jax.eval_shape(lambda: init_variables(model, jax.random.key(0))["params"])
    try:
        params = torch_state.convert_state_dict(state_dict, template, RENDERER_PREFIXES)
    except ValueError as error:
        raise ValueError(f"{path}: {error}; pass the --config preset it was trained with") from None
    Workdir(output).save_variables({"params": params}, config)
    return config
