"""HuBERT weights from a local Hugging Face folder (config.json + model.safetensors or
pytorch_model.bin) -> (Flax `Hubert` module, params). Nothing is ever downloaded.

The state dict maps mechanically (see `torch_state`) once the positional conv's weight norm
(legacy `weight_g`/`weight_v` keys or the newer `parametrizations.weight.original0/1`) is folded
into one kernel and `masked_spec_embed` (a training-time mask vector) is dropped.
"""

from __future__ import annotations

import json
import os

import jax
import jax.numpy as jnp
import numpy as np

from diffdub_jax.convert import torch_state
from diffdub_jax.errors import InvalidInputError, MissingFileError, UserError
from diffdub_jax.models.hubert import Hubert

CONFIG_FILE = "config.json"
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


def download_hint(directory: str) -> str:
    """What to type to fetch HuBERT-large into `directory`, and how to point the commands at it."""
    return ("Download HuBERT-large into that folder:\n"
            f"  huggingface-cli download TencentGameMate/chinese-hubert-large --local-dir {directory}\n"
            "(the DiffDub authors' choice; facebook/hubert-large-ll60k has the same layout), or pass a folder "
            "that has it with --hubert_dir=DIR (infer) or --config.audio.hubert_dir=DIR (train).")
_WEIGHT_NORM_KEYS = (("weight_g", "weight_v"),
                     ("parametrizations.weight.original0", "parametrizations.weight.original1"))


class HubertCheckpointError(UserError, FileNotFoundError):
    """A HuBERT folder that is missing or incomplete; the message says what to download and where."""


def check_folder(directory: str) -> str:
    """The weights file to read; raises HubertCheckpointError naming the absolute path it looked
    in, what is missing there and how to fetch it. Cheap: reads no weights."""
    directory = os.path.abspath(os.path.expanduser(directory))
    if not os.path.isdir(directory):
        raise HubertCheckpointError(f"{directory}: no such HuBERT folder; it needs {CONFIG_FILE} and one of "
                                    f"{' / '.join(WEIGHT_FILES)}. {download_hint(directory)}")
    present = [name for name in WEIGHT_FILES if os.path.isfile(os.path.join(directory, name))]
    missing = [] if os.path.isfile(os.path.join(directory, CONFIG_FILE)) else [CONFIG_FILE]
    if not present:
        missing.append(" or ".join(WEIGHT_FILES))
    if missing:
        raise HubertCheckpointError(f"{directory}: incomplete HuBERT folder, missing {', '.join(missing)}. "
                                    f"{download_hint(directory)}")
    return os.path.join(directory, present[0])


def hubert_from_config(config, dtype: jnp.dtype = jnp.float32) -> Hubert:
    """The Flax module for a transformers `HubertConfig` (or anything with its attributes)."""
    if getattr(config, "conv_pos_batch_norm", False) or getattr(config, "adapter_attn_dim", None) is not None:
        raise InvalidInputError("HuBERT configs with conv_pos_batch_norm or adapter layers are not supported")
    fields = ("conv_bias", "feat_extract_norm", "feat_extract_activation", "feat_proj_layer_norm", "hidden_size",
              "num_hidden_layers", "num_attention_heads", "intermediate_size", "hidden_act",
              "num_conv_pos_embeddings", "num_conv_pos_embedding_groups", "layer_norm_eps", "do_stable_layer_norm")
    return Hubert(conv_dim=tuple(config.conv_dim), conv_kernel=tuple(config.conv_kernel),
                  conv_stride=tuple(config.conv_stride), dtype=dtype,
                  **{name: getattr(config, name) for name in fields})


def read_state_dict(path: str) -> dict[str, np.ndarray]:
    """float32 numpy tensors of a .safetensors file or a torch pickle (loaded with weights_only=True)."""
    if path.endswith(".safetensors"):
        from safetensors.numpy import load_file  # pylint: disable=import-outside-toplevel
        return {key: value.astype(np.float32) for key, value in load_file(path).items()}
    return torch_state.load_torch_checkpoint(path).tensors


def fold_weight_norm(state_dict: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Replaces each weight-normed conv's (g, v) pair by weight = g * v / |v| (norm over all axes but
    the kernel axis 2, transformers' `dim=2`)."""
    out = dict(state_dict)
    for g_suffix, v_suffix in _WEIGHT_NORM_KEYS:
        for g_key in [key for key in out if key.endswith("." + g_suffix)]:
            module = g_key[: -len(g_suffix)]
            if module + v_suffix not in out:
                raise InvalidInputError(f"{g_key} has no matching {module + v_suffix}")
            g, v = out.pop(g_key), out.pop(module + v_suffix)
            norm = np.sqrt(np.square(v.astype(np.float64)).sum(axis=(0, 1), keepdims=True))
            out[module + "weight"] = (g * v / norm).astype(np.float32)
    return out


def convert_hubert_state_dict(state_dict: dict[str, np.ndarray], model: Hubert) -> dict:
    """Flax params for `model` from a transformers HubertModel state dict (prefix `hubert.` allowed)."""
    if any(key.startswith("hubert.") for key in state_dict):
        state_dict = torch_state.select_prefix(state_dict, "hubert.")
    state_dict = fold_weight_norm({k: v for k, v in state_dict.items() if k != "masked_spec_embed"})
    dummy = jnp.zeros((1, model.receptive_field), jnp.float32)
    template = jax.eval_shape(model.init, jax.random.key(0), dummy)["params"]
    return torch_state.convert_state_dict(state_dict, {"hubert": template}, {"hubert": ""})["hubert"]


def folder_layout(directory: str) -> tuple[int, int]:
    """(hidden size, number of hidden states = layers + 1) a HuBERT folder's config.json describes."""
    with open(os.path.join(os.path.dirname(check_folder(directory)), CONFIG_FILE), encoding="utf-8") as handle:
        config = json.load(handle)
    return int(config["hidden_size"]), int(config["num_hidden_layers"]) + 1


def load_hubert(directory: str, dtype: jnp.dtype = jnp.float32) -> tuple[Hubert, dict]:
    """(module, params) from a local Hugging Face HuBERT folder; `dtype` is the compute dtype."""
    weights = check_folder(directory)
    try:
        from transformers import HubertConfig  # pylint: disable=import-outside-toplevel
    except ImportError as error:
        raise MissingFileError("reading a HuBERT config.json needs transformers: pip install transformers") from error
    model = hubert_from_config(HubertConfig.from_pretrained(directory), dtype)
    try:
        params = convert_hubert_state_dict(read_state_dict(weights), model)
    except ValueError as error:
        raise InvalidInputError(f"{weights}: {error}") from None
    return model, params
