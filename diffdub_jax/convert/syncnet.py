"""SyncNet v2 weights (`syncnet_v2.model`, a torch-saved state dict) -> (Flax `SyncNet`, params).
Nothing is ever downloaded: the user fetches the file once, as syncnet_python's download_model.sh
does.

The state dict maps mechanically (see `torch_state`) once the conv3d kernels are put in Flax's
(D, H, W, in, out) layout and batch norm's `num_batches_tracked` counters (training-only) are
dropped.
"""

from __future__ import annotations

from typing import Mapping

import jax
import jax.numpy as jnp
import numpy as np

from diffdub_jax.convert import torch_state
from diffdub_jax.errors import InvalidInputError
from diffdub_jax.models import syncnet as syncnet_model

SYNCNET_FILE = "syncnet_v2.model"
SYNCNET_URL = "http://www.robots.ox.ac.uk/~vgg/software/lipsync/data/syncnet_v2.model"


def check_file(path: str) -> str:
    """The absolute path of the weights file; raises FileNotFoundError naming it and where to get it."""
    return torch_state.weights_file(path, "SyncNet weights", f"Download {SYNCNET_FILE} (as syncnet_python's "
                                    f"download_model.sh does):\n  wget {SYNCNET_URL} -O {SYNCNET_FILE}", "--syncnet")


def convert_syncnet_state_dict(state_dict: Mapping[str, np.ndarray], model: syncnet_model.SyncNet) -> dict:
    """Flax params for `model` from a syncnet_python `S` state dict."""
    tensors = {key: (value.transpose(2, 3, 4, 1, 0) if value.ndim == 5 else value)
               for key, value in state_dict.items() if not key.endswith("num_batches_tracked")}
    mfcc = jnp.zeros((1, syncnet_model.MFCC_COEFFICIENTS, syncnet_model.MFCC_FRAMES, 1), jnp.float32)
    clips = jnp.zeros((1, syncnet_model.LIP_FRAMES, syncnet_model.LIP_SIZE, syncnet_model.LIP_SIZE, 3), jnp.float32)
    template = jax.eval_shape(model.init, jax.random.key(0), mfcc, clips)["params"]
    return torch_state.convert_state_dict(tensors, {"syncnet": template}, {"syncnet": ""})["syncnet"]


def load_syncnet(path: str) -> tuple[syncnet_model.SyncNet, dict]:
    """(module, params) from a `syncnet_v2.model` file (loaded with torch, weights only)."""
    path = check_file(path)
    state_dict = torch_state.load_torch_checkpoint(path).tensors
    if "netfcaud.3.weight" not in state_dict:
        raise InvalidInputError(f"{path}: not a SyncNet state dict (no netfcaud.3.weight; it has e.g. "
                                f"{sorted(state_dict)[:5]})")
    model = syncnet_model.SyncNet(embedding_size=int(state_dict["netfcaud.3.weight"].shape[0]))
    try:
        params = convert_syncnet_state_dict(state_dict, model)
    except ValueError as error:
        raise InvalidInputError(f"{path}: {error}") from None
    return model, params
