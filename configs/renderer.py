"""Stage-1 renderer config. `--config=configs/renderer.py:PRESET`, PRESET in real|synthetic|tiny."""

import ml_collections

from diffdub_jax.data import pipeline


def get_config(preset: str = "real") -> ml_collections.ConfigDict:
    config = ml_collections.ConfigDict()
    config.stage = "renderer"
    config.preset = preset
    config.seed = 0
    config.data = pipeline.data_config(preset, "renderer")
    return config
