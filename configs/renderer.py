"""Stage-1 renderer config. `--config=configs/renderer.py:PRESET`, PRESET in real|synthetic|tiny.

`real` holds the release's numbers (DESIGN §2.2); `synthetic` trains on the synthetic set on a
laptop CPU in minutes; `tiny` is for tests.
"""

import ml_collections

from diffdub_jax.data import pipeline


def get_config(preset: str = "real") -> ml_collections.ConfigDict:
    config = ml_collections.ConfigDict()
    config.stage = "renderer"
    config.preset = preset
    config.seed = 0
    config.data = pipeline.data_config(preset, "renderer")

    model = config.model = ml_collections.ConfigDict()
    model.channels = {"real": 128, "synthetic": 16, "tiny": 32}[preset]
    model.channel_mult = {"real": (1, 1, 2, 2, 4, 4), "synthetic": (1, 2, 4), "tiny": (1, 2)}[preset]
    model.encoder_channel_mult = {"real": (1, 1, 2, 2, 4, 4, 4), "synthetic": (1, 2, 4, 4),
                                  "tiny": (1, 2, 2)}[preset]
    model.num_res_blocks = {"real": 2, "synthetic": 1, "tiny": 1}[preset]
    model.attention_resolutions = {"real": (16,), "synthetic": (), "tiny": (16,)}[preset]
    model.embed_channels = {"real": 512, "synthetic": 128, "tiny": 512}[preset]
    model.num_heads = 1
    model.dropout = {"real": 0.1, "synthetic": 0.0, "tiny": 0.0}[preset]
    model.compute_dtype = "float32"  # or 'bfloat16' on accelerators

    diffusion = config.diffusion = ml_collections.ConfigDict()
    diffusion.num_timesteps = 1000
    diffusion.beta_start = 1e-4
    diffusion.beta_end = 0.02
    # DDIM steps. The synthetic v-predicting renderer loses nothing at 10 (held-out lip sync of renders
    # from their own z_sem 0.79 / 0.80 / 0.82 at 20 / 10 / 5 steps, edit-region PSNR 24.8 / 25.3 / 25.7)
    # and renders twice as fast; tiny: tests, same code path.
    diffusion.sample_steps = {"real": 20, "synthetic": 10, "tiny": 4}[preset]
    # What the UNet outputs (diffusion.schedule). The release predicts 'epsilon' (converted official
    # weights need it); 'v' states the mouth's shape directly at the noisy steps that decide it, which
    # is what lets a small, briefly trained renderer draw the mouth from z_sem (synthetic, 2000 steps:
    # held-out lip sync of renders from their own z_sem r = 0.67 with 'v', 0.24 with 'epsilon').
    diffusion.prediction = {"real": "epsilon", "synthetic": "v", "tiny": "epsilon"}[preset]
    # 'uniform': the plain mean over the prediction's target, as the release; 'min_snr' (losses.py)
    # caps the weight of the nearly clean steps at min_snr_gamma.
    diffusion.loss_weighting = "uniform"
    diffusion.min_snr_gamma = 5.0

    evaluation = config.eval = ml_collections.ConfigDict()  # held-out lip sync (renderer_eval)
    evaluation.lipsync_clips = {"real": 8, "synthetic": 8, "tiny": 2}[preset]
    evaluation.lipsync_frames = {"real": 32, "synthetic": 32, "tiny": 8}[preset]

    train = config.train = ml_collections.ConfigDict()
    train.num_steps = {"real": 1_000_000, "synthetic": 2000, "tiny": 20}[preset]
    train.learning_rate = {"real": 1e-4, "synthetic": 2e-3, "tiny": 1e-3}[preset]
    train.grad_clip_norm = 1.0
    train.ema_decay = {"real": 0.9999, "synthetic": 0.98, "tiny": 0.9}[preset]
    train.ema_warmup = preset != "real"  # the release uses a constant decay
    train.log_every = {"real": 100, "synthetic": 100, "tiny": 5}[preset]
    train.checkpoint_every = {"real": 5000, "synthetic": 500, "tiny": 10}[preset]
    train.sample_every = {"real": 10000, "synthetic": 0, "tiny": 0}[preset]  # 0 = never
    train.keep_checkpoints = 3
    train.fsdp = False  # shard parameters over the data axis instead of replicating them
    train.init_from = ""  # an Orbax workdir, e.g. a converted diffae FFHQ-256 or DiffDub stage-1
    return config
