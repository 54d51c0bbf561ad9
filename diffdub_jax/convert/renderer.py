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
from diffdub_jax.errors import InvalidInputError
from diffdub_jax.models.renderer import init_variables, renderer_from_config
from diffdub_jax.workdir import Workdir

RENDERER_PREFIXES = {"encoder": "encoder.", "unet": ""}

# diffae's TrainConfig fields (saved by the release's Lightning module as `hyper_parameters`) and
# the config field each one sets.
HYPER_PARAMETERS = {
    "img_size": "data.image_size",
    "net_ch": "model.channels",
    "net_ch_mult": "model.channel_mult",
    "net_enc_channel_mult": "model.encoder_channel_mult",
    "net_attn": "model.attention_resolutions",
    "net_num_res_blocks": "model.num_res_blocks",
    "net_beatgans_embed_channels": "model.embed_channels",
    "net_beatgans_attn_head": "model.num_heads",
    "dropout": "model.dropout",
    "T": "diffusion.num_timesteps",
    "N_frames": "data.num_references",
}
# Fields whose other values describe a network this port does not build: (field, supported values).
UNSUPPORTED = (("net_num_input_res_blocks", (None,)), ("net_enc_attn", (None,)), ("beta_scheduler", ("linear",)),
               ("net_beatgans_resnet_two_cond", (True,)), ("net_resblock_updown", (True,)))


def is_renderer_state_dict(state_dict: Mapping[str, np.ndarray]) -> bool:
    """Whether a release state dict holds a stage-1 UNet (DiffDub stage1.ckpt or diffae)."""
    return any(key.endswith("input_blocks.0.0.weight") for key in state_dict)


def _get(config: ml_collections.ConfigDict, dotted: str):
    section, field = dotted.split(".")
    return config[section][field]


def architecture_from_checkpoint(tensors: Mapping[str, np.ndarray], hyper_parameters: Mapping,
                                 config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """`config` with the architecture the checkpoint describes: its hyper_parameters (the diffae
    TrainConfig fields, when the file has them), then what the tensor shapes determine (width,
    reference frames, embedding size), which must agree. ValueError names a field whose value
    this port cannot build, or where the description and the tensors disagree."""
    config = config.copy_and_resolve_references()
    for field, supported in UNSUPPORTED:
        if field in hyper_parameters and hyper_parameters[field] not in supported:
            raise InvalidInputError(f"hyper_parameters {field}={hyper_parameters[field]!r}: "
                                    f"only {supported} is supported")
    if hyper_parameters.get("net_enc_num_res_blocks", hyper_parameters.get("net_num_res_blocks")) != \
            hyper_parameters.get("net_num_res_blocks"):
        raise InvalidInputError(f"hyper_parameters net_enc_num_res_blocks={hyper_parameters['net_enc_num_res_blocks']} "
                                f"differs from net_num_res_blocks={hyper_parameters['net_num_res_blocks']}: "
                                "not supported")
    for name, dotted in HYPER_PARAMETERS.items():
        value = hyper_parameters.get(name)
        if value is not None:
            section, field = dotted.split(".")
            config[section][field] = tuple(value) if isinstance(value, (list, tuple)) else type(_get(config, dotted))(value)
    first_conv, time_embed = tensors["input_blocks.0.0.weight"], tensors.get("time_embed.time_embed.2.weight")
    from_shapes = {"model.channels": int(first_conv.shape[0]), "data.num_references": int(first_conv.shape[1]) // 3 - 1}
    if time_embed is not None:
        from_shapes["model.embed_channels"] = int(time_embed.shape[0])
    for dotted, value in from_shapes.items():
        name = next((k for k, v in HYPER_PARAMETERS.items() if v == dotted), None)
        if name in hyper_parameters and hyper_parameters[name] is not None and _get(config, dotted) != value:
            raise InvalidInputError(f"hyper_parameters {name}={hyper_parameters[name]!r} but the tensors have {value}")
        section, field = dotted.split(".")
        config[section][field] = value
    return config


def convert_renderer_checkpoint(path: str, output: str, weights: str | None = None,
                                config: ml_collections.ConfigDict | None = None,
                                checkpoint: torch_state.TorchCheckpoint | None = None) -> ml_collections.ConfigDict:
    """Converts `path` (or its already loaded checkpoint) into a workdir at `output`; returns the
    config it matches: the checkpoint's own description (hyper_parameters and tensor shapes) on
    the release's config, or `config` when given (an override; the shapes still set the width,
    reference frames and embedding size). Weights default to ema_model."""
    weights = weights or "ema_model"
    checkpoint = torch_state.load_torch_checkpoint(path) if checkpoint is None else checkpoint
    state_dict = dict(checkpoint.tensors)
    if any(key.startswith(weights + ".") for key in state_dict):
        state_dict = torch_state.select_prefix(state_dict, weights + ".")
    state_dict.pop("x_T", None)
    if "input_blocks.0.0.weight" not in state_dict:
        raise InvalidInputError(f"{path}: not a stage-1 renderer checkpoint (no input_blocks.0.0.weight); "
                                f"keys look like {sorted(state_dict)[:5]}")
    described = checkpoint.hyper_parameters if config is None else {}
    try:
        config = architecture_from_checkpoint(state_dict, described, release.renderer_config() if config is None
                                              else config)
    except ValueError as error:
        raise InvalidInputError(f"{path}: {error}") from None
    model = renderer_from_config(config)
    template = jax.eval_shape(lambda: init_variables(model, jax.random.key(0))["params"])
    try:
        params = torch_state.convert_state_dict(state_dict, template, RENDERER_PREFIXES)
    except ValueError as error:
        hint = ("pass --config with the architecture it was trained with (model.channel_mult, "
                "model.encoder_channel_mult, model.num_res_blocks, model.attention_resolutions and data.image_size, "
                "which places the attention)" if not described else "its hyper_parameters do not describe its tensors")
        raise InvalidInputError(f"{path}: {error}; {hint}") from None
    Workdir(output).save_variables({"params": params}, config)
    return config
