"""pytorch-fid's FID Inception weights (`pt_inception-2015-12-05-6726825d.pth`, a plain torch state
dict) -> (Flax `FIDInception`, params). Nothing is ever downloaded: the user fetches the file once.

The keys map mechanically (see `torch_state`) once the 1008-way classifier (`fc.*`, not part of
the pool3 features) and batch norm's training-only `num_batches_tracked` counters are left out.
"""

from __future__ import annotations

from typing import Mapping

import jax
import jax.numpy as jnp
import numpy as np

from diffdub_jax.convert import torch_state
from diffdub_jax.errors import InvalidInputError
from diffdub_jax.models.inception import INPUT_SIZE, FIDInception

INCEPTION_FILE = "pt_inception-2015-12-05-6726825d.pth"
INCEPTION_URL = f"https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/{INCEPTION_FILE}"


def check_file(path: str) -> str:
    """The absolute path of the weights file; raises FileNotFoundError naming it and where to get it."""
    return torch_state.weights_file(path, "FID Inception weights", f"Download pytorch-fid's {INCEPTION_FILE}:\n"
                                    f"  wget {INCEPTION_URL} -O {INCEPTION_FILE}", "--fid_inception")


def convert_inception_state_dict(state_dict: Mapping[str, np.ndarray], model: FIDInception) -> dict:
    """Flax params for `model` from pytorch-fid's FID Inception state dict."""
    tensors = {key: value for key, value in state_dict.items()
               if not key.startswith("fc.") and not key.endswith("num_batches_tracked")}
    images = jnp.zeros((1, INPUT_SIZE, INPUT_SIZE, 3), jnp.float32)
    template = jax.eval_shape(model.init, jax.random.key(0), images)["params"]
    return torch_state.convert_state_dict(tensors, {"inception": template}, {"inception": ""})["inception"]


def load_inception(path: str) -> tuple[FIDInception, dict]:
    """(module, params) from pytorch-fid's weights file (loaded with torch, weights only)."""
    path = check_file(path)
    model = FIDInception()
    try:
        params = convert_inception_state_dict(torch_state.load_torch_checkpoint(path).tensors, model)
    except ValueError as error:
        raise InvalidInputError(f"{path}: not pytorch-fid's FID Inception weights ({INCEPTION_FILE}): "
                                f"{error}") from None
    return model, params
