"""LPIPS v0.1 weights -> (Flax `LPIPS`, params). Nothing is ever downloaded.

Two files make the metric: the ImageNet trunk, a torchvision checkpoint the user names (the same
file torchvision caches under torch hub's `checkpoints/`), and the five linear heads lpips ships
inside its wheel (`lpips/weights/v0.1/<net>.pth`), found without importing lpips' torch code. A
state dict of a whole `lpips.LPIPS` module also serves as the trunk file, and brings its heads.
"""

from __future__ import annotations

import importlib.util
import os
import re

import jax
import jax.numpy as jnp
import numpy as np

from diffdub_jax.convert import torch_state
from diffdub_jax.errors import InvalidInputError, MissingFileError
from diffdub_jax.models.lpips import LPIPS

BACKBONE_URLS = {
    "alex": "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
    "vgg": "https://download.pytorch.org/models/vgg16-397923af.pth",
}
_LPIPS_TRUNK_KEY = re.compile(r"^net\.slice\d+\.")  # lpips.LPIPS keeps torchvision's indices under these
_HEAD_KEY = re.compile(r"^lin(\d+)\.model\.\d+\.weight$")  # the index is 1 with dropout, 0 without


def backbone_hint(net: str) -> str:
    """Where to get the trunk's weights and how to hand them over."""
    url = BACKBONE_URLS[net]
    return (f"LPIPS ({net}) needs torchvision's ImageNet weights {os.path.basename(url)}: download {url} "
            f"and pass its path with --lpips_backbone=PATH.")


def _torch_hub_checkpoints() -> str:
    """torchvision's download cache (where lpips itself would have put the file), read, never filled."""
    try:
        import torch  # pylint: disable=import-outside-toplevel
    except ImportError as error:
        raise MissingFileError("reading LPIPS weights needs torch: pip install -e '.[convert]'") from error
    return os.path.join(torch.hub.get_dir(), "checkpoints")


def backbone_file(net: str = "alex", path: str | None = None) -> str:
    """The trunk file to read: `path`, or torchvision's cached copy when None. Cheap: reads no
    weights. Raises FileNotFoundError naming the file, its URL and the --lpips_backbone flag."""
    if net not in BACKBONE_URLS:
        raise InvalidInputError(f"LPIPS net must be one of {sorted(BACKBONE_URLS)}, got {net!r}")
    if path is None:
        path = os.path.join(_torch_hub_checkpoints(), os.path.basename(BACKBONE_URLS[net]))
    path = os.path.abspath(os.path.expanduser(path))
    if not os.path.isfile(path):
        raise MissingFileError(f"{path}: no such file. {backbone_hint(net)}")
    return path


def packaged_heads_file(net: str = "alex") -> str:
    """lpips' own v0.1 head weights for `net`, located without running lpips' (torchvision) imports."""
    spec = importlib.util.find_spec("lpips")
    if spec is None or not spec.submodule_search_locations:
        raise MissingFileError("LPIPS heads come from the lpips package: pip install lpips==0.1.4, or pass "
                               "heads_path=<lpips/weights/v0.1/NET.pth>")
    path = os.path.join(spec.submodule_search_locations[0], "weights", "v0.1", f"{net}.pth")
    if not os.path.isfile(path):
        raise MissingFileError(f"{path}: the installed lpips package has no v0.1 {net} heads")
    return path


def _split(state_dict: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(trunk as `features.<i>.*`, heads as `lin<k>.weight`) of a torchvision or lpips.LPIPS state dict;
    torchvision's classifier and lpips' scaling constants and `lins.*` aliases are left out."""
    trunk, heads = {}, {}
    for key, value in state_dict.items():
        head = _HEAD_KEY.match(key)
        if head:
            heads[f"lin{head.group(1)}.weight"] = value
        elif key.startswith("features."):
            trunk[key] = value
        elif _LPIPS_TRUNK_KEY.match(key):
            trunk["features." + _LPIPS_TRUNK_KEY.sub("", key)] = value
    return trunk, heads


def convert_lpips_state_dict(trunk: dict[str, np.ndarray], heads: dict[str, np.ndarray], model: LPIPS) -> dict:
    """Flax params for `model` from a trunk (`features.<i>.*`) and heads (`lin<k>.weight`)."""
    dummy = jnp.zeros((1, 64, 64, 3), jnp.float32)
    template = jax.eval_shape(model.init, jax.random.key(0), dummy, dummy)["params"]
    return torch_state.convert_state_dict({**trunk, **heads}, {"lpips": template}, {"lpips": ""})["lpips"]


def load_lpips(net: str = "alex", backbone_path: str | None = None,
               heads_path: str | None = None) -> tuple[LPIPS, dict]:
    """(module, params) of LPIPS v0.1 with trunk `net` ("alex" or "vgg").

    backbone_path: torchvision's checkpoint (alexnet-owt-7be5be79.pth / vgg16-397923af.pth), or a
    whole lpips.LPIPS state dict; None reads torchvision's cached copy. heads_path: lpips' head
    file; None takes the heads of a whole-LPIPS backbone file, else the installed package's.
    """
    trunk_path = backbone_file(net, backbone_path)
    trunk, heads = _split(torch_state.load_torch_checkpoint(trunk_path).tensors)
    if heads_path is not None or not heads:
        heads_path = heads_path or packaged_heads_file(net)
        heads = _split(torch_state.load_torch_checkpoint(heads_path).tensors)[1]
    model = LPIPS(net=net)
    try:
        params = convert_lpips_state_dict(trunk, heads, model)
    except ValueError as error:
        raise InvalidInputError(f"{trunk_path} + {heads_path or 'its heads'} do not make LPIPS ({net}): "
                                f"{error}") from None
    return model, params
