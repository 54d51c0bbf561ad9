"""Small renderer configs and batches shared by the stage-1 tests."""

import jax
import numpy as np

from conftest import load_config
from diffdub_jax.models.renderer import Renderer, init_variables, renderer_from_config


def official_small_renderer() -> Renderer:
    """The `tiny` preset, whose layout is that of tests/data/official_renderer_small_keys.txt."""
    return renderer_from_config(tiny_config())


def tiny_config(data_dir: str = ""):
    config = load_config("renderer", "tiny")
    if data_dir:
        config.data.data_dir = data_dir
    return config


def random_batch(size: int = 32, batch: int = 4, seed: int = 0) -> dict:
    """Smooth random images in [-1, 1] (like faces, unlike white noise) and a rectangular
    lower-face edit mask."""
    rng = np.random.default_rng(seed)

    def smooth():
        coarse = rng.uniform(-1, 1, (batch, 4, 4, 3))
        return np.kron(coarse, np.ones((1, size // 4, size // 4, 1))).astype(np.float32)

    mask = np.zeros((batch, size, size, 1), np.float32)
    mask[:, size // 2 :, size // 4 : 3 * size // 4] = 1.0
    return {"image": smooth(), "reference": smooth(), "encoder_crop": smooth(), "edit_mask": mask}


def randomise(params, seed: int = 0):
    """Non-zero values everywhere (the release zero-inits output convs, which would make eps = 0)."""
    leaves, tree = jax.tree_util.tree_flatten(params)
    keys = jax.random.split(jax.random.key(seed), len(leaves))
    return jax.tree_util.tree_unflatten(
        tree, [0.2 * jax.random.normal(k, x.shape) + (x if x.ndim == 1 else 0) for k, x in zip(keys, leaves)])


def init(model: Renderer):
    return jax.jit(lambda key: init_variables(model, key))(jax.random.key(0))["params"]


def random_stages(root) -> tuple[str, str]:
    """Tiny stage-1 and stage-2 workdirs under root, random weights: for tests of the pipeline
    around the models (infer, evaluate), not of what they learned."""
    from diffdub_jax.models.motion import build_motion_generator  # pylint: disable=import-outside-toplevel
    from diffdub_jax.models.motion import init_variables as init_motion  # pylint: disable=import-outside-toplevel
    from diffdub_jax.workdir import Workdir  # pylint: disable=import-outside-toplevel

    Workdir(root / "renderer").save_variables({"params": init(official_small_renderer())}, tiny_config())
    config = load_config("motion", "tiny")
    variables = init_motion(build_motion_generator(config.model), config.model.audio_dim, jax.random.key(0))
    Workdir(root / "motion").save_variables(variables, config)
    return str(root / "renderer"), str(root / "motion")
