"""Stage-2 motion-generator config. `--config=configs/motion.py:PRESET`, PRESET in real|synthetic|tiny."""

import ml_collections

from diffdub_jax.data import pipeline


def get_config(preset: str = "real") -> ml_collections.ConfigDict:
    config = ml_collections.ConfigDict()
    config.stage = "motion"
    config.preset = preset
    config.seed = 0
    config.data = pipeline.data_config(preset, "motion")
    config.audio = ml_collections.ConfigDict()
    config.audio.frontend = "mel"  # 'hubert' arrives with the HuBERT front end
    config.audio.num_mels = 80
    return config
