"""Stage-1 renderer config: `--config=configs/renderer.py[:PRESET]`, PRESET in real|synthetic|tiny.

    python -m diffdub_jax.train --config=configs/renderer.py --workdir=runs/renderer
        `real` (the default): the release's model, diffusion and framing (diffdub_jax.release) and
        its training (Adam 1e-4, EMA 0.9999, batch 32) on HDTF at 256 px; weeks on a pod.
    python -m diffdub_jax.train --config=configs/renderer.py:synthetic --workdir=runs/renderer
        the demo's renderer on the embedded synthetic set at its native 64 px (2 x 2 patches):
        about 6 minutes on 2 CPU cores. Its measurements and the experiments behind each setting:
        docs/results.md.
    `tiny`: for tests (seconds; the same code paths).

Presets are small overrides of `real` (PRESETS below), each saying why it departs.
"""

import ml_collections

from diffdub_jax import release
from diffdub_jax.data import reading


def get_config(preset: str = "real") -> ml_collections.ConfigDict:
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
    config = release.renderer_config()
    config.preset = preset
    config.seed = 0

    data = config.data
    data.name = "hdtf"
    data.update(reading.READ_DEFAULTS)  # data_dir, seed, read_threads, worker_processes, cache_clips
    data.batch_size = 32

    # 'uniform': the plain mean over the prediction's target, as the release; 'min_snr' (losses.py)
    # caps the weight of the nearly clean steps at min_snr_gamma.
    config.diffusion.loss_weighting = "uniform"
    config.diffusion.min_snr_gamma = 5.0

    # Evaluators (evaluation.evaluators): run in training every `every` steps (0: only by `evaluate`).
    config.evals = ml_collections.ConfigDict()
    config.evals.reconstruction = ml_collections.ConfigDict(
        {"type": "reconstruction", "split": "test", "every": 10_000, "batches": 8, "lipsync_clips": 8,
         "lipsync_frames": 32})

    train = config.train = ml_collections.ConfigDict()
    train.num_steps = 1_000_000
    train.learning_rate = 1e-4
    train.lr_schedule = "constant"  # the release's; 'cosine' decays to a tenth over num_steps
    train.grad_clip_norm = 1.0
    train.ema_decay = 0.9999
    train.ema_warmup = False  # the release uses a constant decay
    train.log_every = 100
    train.checkpoint_every = 5000
    train.sample_every = 10000  # 0 = never
    train.keep_checkpoints = 3
    train.fsdp = False  # shard parameters over the data axis instead of replicating them
    train.init_from = ""  # an Orbax workdir, e.g. a converted diffae FFHQ-256 or DiffDub stage-1

    config.update_from_flattened_dict(PRESETS[preset])
    return config


# A synthetic run visits each clip ~100 times; reading one (all its PNG frames) costs more than
# building an example from it, so small sets stay in memory.
_SMALL_SET = {"data.cache_clips": 4096, "train.ema_warmup": True, "train.sample_every": 0,
              "evals.reconstruction.every": 0}

PRESETS = {
    "real": {},
    "synthetic": {
        **_SMALL_SET,
        "data.name": "synthetic_talking_faces/64px",
        # The set's native 64 px in 2 x 2 patches: 32 x 32 positions, cheap enough for minutes on a CPU.
        "data.image_size": 64,
        "model.patch_size": 2,
        "data.batch_size": 8,  # batch 4 draws no mouth in the same number of steps
        # The set's frames are the whole input (2x the face box spans the frame); `infer` crops alike.
        "data.crop_scale": 2.0,
        # The synthetic jaw drops with the mouth: masks united over 12 frames hide it from the renderer.
        "data.mask_window": 12,
        "model.channels": 16,
        "model.channel_mult": (1, 2, 4),
        "model.encoder_channel_mult": (1, 2, 4, 4),
        "model.num_res_blocks": 1,
        "model.attention_resolutions": (),
        "model.embed_channels": 128,
        "model.dropout": 0.0,
        # A small net predicting x0 draws a clean mouth; 'v' / 'epsilon' left speckle and a damped one.
        "diffusion.prediction": "x0",
        # The skin's tone and light from the person's own frame (low-passed), not from the small net.
        "model.reference_residual": True,
        "diffusion.sampler": "ddim",
        "diffusion.sample_steps": 4,  # an x0 net on the reference's tone: 4 steps draw what 10 did
        "train.num_steps": 3000,  # fewer steps draw no mouth from z_sem, or a softer, smaller one
        "train.learning_rate": 2e-3,
        "train.lr_schedule": "cosine",  # ends settled: articulation 0.72 -> 0.78 in the same steps
        "train.ema_decay": 0.98,
        "train.checkpoint_every": 500,
    },
    "tiny": {
        **_SMALL_SET,
        "data.name": "synthetic_talking_faces/small",
        "data.image_size": 32,
        "data.batch_size": 4,
        "data.cache_clips": 64,
        "data.crop_scale": 2.0,  # the synthetic framing, as `synthetic`
        "data.mask_window": 2,
        "data.mask_dilation": 12.0,
        "model.channels": 32,
        "model.channel_mult": (1, 2),
        "model.encoder_channel_mult": (1, 2, 2),
        "model.num_res_blocks": 1,
        "model.dropout": 0.0,
        "diffusion.sample_steps": 4,  # tests: the same code path, a fifth of the render time
        "evals.reconstruction.batches": 1,
        "evals.reconstruction.lipsync_clips": 2,
        "evals.reconstruction.lipsync_frames": 8,
        "train.num_steps": 20,
        "train.learning_rate": 1e-3,
        "train.ema_decay": 0.9,
        "train.log_every": 5,
        "train.checkpoint_every": 10,
    },
}
