"""Mechanical PyTorch state dict -> Flax params mapping, and safe checkpoint loading.

Our Flax modules are named after the release's module paths with '.' turned into '_', so a torch
key `input_blocks.1.0.in_layers.2.weight` and a Flax path `input_blocks_1_0/in_layers_2/kernel`
normalise to the same string. Kernels are transposed by rank (conv OIHW -> HWIO, conv1d OIK -> KIO,
linear and 1x1 conv1d (O, I[, 1]) -> (I, O)); every other array keeps its layout.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Mapping

import flax
import numpy as np

from diffdub_jax.errors import InvalidInputError, MissingFileError

LEAF_NAMES = {"kernel": "weight", "scale": "weight", "bias": "bias", "mean": "running_mean",
              "var": "running_var"}


def _normalise_flax(path: tuple[str, ...]) -> str:
    *modules, leaf = path
    return "_".join(modules) + "." + LEAF_NAMES.get(leaf, leaf)


def _normalise_torch(key: str) -> str:
    module, _, leaf = key.rpartition(".")
    return module.replace(".", "_") + "." + leaf


def _to_flax_layout(array: np.ndarray, target_shape: tuple[int, ...], is_kernel: bool) -> np.ndarray:
    if is_kernel and array.ndim == 4:
        array = array.transpose(2, 3, 1, 0)
    elif is_kernel and array.ndim == 3:
        array = array[..., 0].T if len(target_shape) == 2 else array.transpose(2, 1, 0)
    elif is_kernel and array.ndim == 2:
        array = array.T
    if array.shape != tuple(target_shape):
        raise InvalidInputError(f"shape {array.shape} does not match the model's {tuple(target_shape)}")
    return array


def convert_state_dict(state_dict: Mapping[str, np.ndarray], template: Mapping,
                       prefixes: Mapping[str, str]) -> dict:
    """Fills a Flax params tree shaped like `template` from a torch state dict.

    prefixes maps a top-level Flax scope to the torch key prefix it reads, e.g.
    {'encoder': 'encoder.', 'unet': ''} (the empty prefix takes every key no other prefix took).
    Every template leaf must be filled and every torch key used, or a ValueError lists them.
    """
    by_name = {}
    for key, value in state_dict.items():
        scope = next((s for s, p in prefixes.items() if p and key.startswith(p)), None)
        if scope is None:
            scope = next((s for s, p in prefixes.items() if not p), None)
            if scope is None:
                continue
        by_name[(scope, _normalise_torch(key[len(prefixes[scope]):]))] = (key, np.asarray(value))
    flat = flax.traverse_util.flatten_dict(flax.core.unfreeze(template))
    out, missing = {}, []
    for path, leaf in flat.items():
        name = (path[0], _normalise_flax(path[1:]))
        if name not in by_name:
            missing.append("/".join(path))
            continue
        key, value = by_name.pop(name)
        try:
            out[path] = _to_flax_layout(value, leaf.shape, path[-1] == "kernel").astype(np.float32)
        except ValueError as error:
            raise InvalidInputError(f"{key}: {error}") from None
    if missing or by_name:
        unused = sorted(key for key, _ in by_name.values())
        raise InvalidInputError(f"checkpoint does not match the model config: {len(missing)} parameters missing "
                                f"(e.g. {missing[:3]}), {len(unused)} checkpoint keys unused (e.g. {unused[:3]})")
    return flax.traverse_util.unflatten_dict(out)


@dataclasses.dataclass
class TorchCheckpoint:
    """What a PyTorch/Lightning file holds: its tensors as numpy, and the `hyper_parameters` a
    Lightning module saved with them ({} when there are none, e.g. a bare state dict)."""

    tensors: dict[str, np.ndarray]
    hyper_parameters: dict


def weights_file(path: str, what: str, how_to_get: str, flag: str) -> str:
    """The absolute path of a weights file the user named; FileNotFoundError says which file is
    missing, `how_to_get` it (a download command) and the `flag` that takes it. Never downloads."""
    path = os.path.abspath(os.path.expanduser(path))
    if not os.path.isfile(path):
        raise MissingFileError(f"{path}: no such {what} file. {how_to_get}\nand pass it with {flag}=PATH.")
    return path


def load_torch_checkpoint(path: str) -> TorchCheckpoint:
    """A PyTorch/Lightning checkpoint loaded with weights_only=True (no arbitrary code runs).
    Lightning files keep the tensors under 'state_dict' and their description under
    'hyper_parameters'."""
    if not os.path.isfile(path):
        raise MissingFileError(f"{path}: no such checkpoint file")
    try:
        import torch  # pylint: disable=import-outside-toplevel
    except ImportError as error:
        raise MissingFileError("reading PyTorch checkpoints needs torch: pip install -e '.[convert]'") from error
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    state = checkpoint.get("state_dict", checkpoint)
    hyper_parameters = checkpoint.get("hyper_parameters") if "state_dict" in checkpoint else None
    return TorchCheckpoint({k: v.detach().float().numpy() for k, v in state.items() if hasattr(v, "detach")},
                           dict(hyper_parameters) if isinstance(hyper_parameters, Mapping) else {})


def select_prefix(state_dict: Mapping[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    """The entries under `prefix` (e.g. 'ema_model.'), with the prefix removed."""
    selected = {k[len(prefix):]: v for k, v in state_dict.items() if k.startswith(prefix)}
    if not selected:
        raise InvalidInputError(f"no keys start with {prefix!r}; the file has e.g. {sorted(state_dict)[:5]}")
    return selected
