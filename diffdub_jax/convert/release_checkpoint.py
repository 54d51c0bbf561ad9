"""Which stage a release checkpoint holds, told from its keys, and its conversion."""

from __future__ import annotations

import ml_collections

from diffdub_jax.convert import motion, renderer, torch_state
from diffdub_jax.errors import InvalidInputError

# stage -> (does a release state dict hold it?, its converter)
CONVERTERS = {
    "renderer": (renderer.is_renderer_state_dict, renderer.convert_renderer_checkpoint),
    "motion": (motion.is_motion_state_dict, motion.convert_motion_checkpoint),
}


def convert_release_checkpoint(path: str, output: str, weights: str | None = None,
                               config: ml_collections.ConfigDict | None = None) -> tuple[str, ml_collections.ConfigDict]:
    """Converts a DiffDub/diffae PyTorch checkpoint of either stage into a workdir at output;
    returns (its stage, the config it matches)."""
    checkpoint = torch_state.load_torch_checkpoint(path)
    for stage, (holds, convert) in CONVERTERS.items():
        if holds(checkpoint.tensors):
            return stage, convert(path, output, weights, config, checkpoint)
    raise InvalidInputError(f"{path}: not a DiffDub/diffae stage-1 or stage-2 checkpoint; keys look like "
                            f"{sorted(checkpoint.tensors)[:5]}")
