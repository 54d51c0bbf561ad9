"""Stage-1 renderer config: `--config=configs/renderer.py[:PRESET]`, PRESET in real|synthetic|tiny.

    python -m diffdub_jax.train --config=configs/renderer.py --workdir=runs/renderer
        `real` (the default): the release's model, diffusion and framing (diffdub_jax.release) and
        its training (Adam 1e-4, EMA 0.9999, batch 32) on HDTF at 256 px; weeks on a pod.
    python -m diffdub_jax.train --config=configs/renderer.py:synthetic --workdir=runs/renderer
        the demo's renderer on the embedded synthetic set at its native 64 px (2 x 2 patches):
        4-8 minutes on 2 CPU cores; held-out renders from their own z_sem follow the true
        mouth (lip sync r 0.71-0.88 over three seeds; dubs by both stages 0.89-0.92).
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

    evaluation = config.eval = ml_collections.ConfigDict()  # held-out lip sync (evaluation.reconstruction)
    evaluation.lipsync_clips = 8
    evaluation.lipsync_frames = 32

    train = config.train = ml_collections.ConfigDict()
    train.num_steps = 1_000_000
    train.learning_rate = 1e-4
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
_SMALL_SET = {"data.cache_clips": 4096, "train.ema_warmup": True, "train.sample_every": 0}

PRESETS = {
    "real": {},
    "synthetic": {
        **_SMALL_SET,
        "data.name": "synthetic_talking_faces/64px",
        # The set's native 64 px, drawn in 2 x 2 pixel patches: the networks run at 32 x 32 positions,
        # as cheap as a 32 px renderer (whose 2x upscaled mouth was blurred: sharpness 0.41 of the
        # source's), which buys the optimiser steps a diffusion model needs within minutes on a CPU.
        "data.image_size": 64,
        "model.patch_size": 2,
        # Batch 4 over the same 2000 steps draws no mouth (held-out lip sync -0.07 / 0.03).
        "data.batch_size": 8,
        # The set's frames are the renderer's whole input (the face fills about half the frame), not
        # the authors' 1.6x face-box crop: a crop of 2x the box spans the whole frame. Saved with
        # the checkpoint, so `infer` crops real videos of these faces the same way.
        "data.crop_scale": 2.0,
        # Edit masks united over 12 frames each side: the synthetic jaw drops with the mouth; seen
        # outside the mask it would tell the renderer the mouth.
        "data.mask_window": 12,
        "model.channels": 16,
        "model.channel_mult": (1, 2, 4),
        "model.encoder_channel_mult": (1, 2, 4, 4),
        "model.num_res_blocks": 1,
        "model.attention_resolutions": (),
        "model.embed_channels": 128,
        "model.dropout": 0.0,
        # 'v' states the mouth's shape directly at the noisy steps that decide it, which is what lets a
        # small, briefly trained renderer draw the mouth from z_sem (2000 steps: held-out lip sync of
        # renders from their own z_sem r = 0.67 with 'v', 0.24 with 'epsilon').
        "diffusion.prediction": "v",
        # 5 DPM-Solver++ 2M steps render as well as 10 DDIM steps in half the time, the dubs a little
        # nearer the source. Same checkpoint, held-out frames (evaluation.reconstruction): edit-region
        # PSNR 22.93 against 22.76, lip sync of renders from their own z_sem 0.832 against 0.832; the
        # demo's four held-out dubs with their own audio: edit-region PSNR 21.70 / 21.60, SSIM 0.664 /
        # 0.658, LMD 5.93 / 6.03, sharpness over the source's 1.10 / 1.17; dubs with other audio: lip
        # sync minus the source's 0.875 / 0.875 (DDIM 5: 23.07, 0.828; 21.80, 0.673, 5.88, 1.04, 0.875).
        "diffusion.sampler": "dpm_solver_2m",
        "diffusion.sample_steps": 5,
        # Fewer steps do not draw the mouth: held-out lip sync 0.00 after 1000, 0.60 / 0.65 after 1500.
        # 2500 rather than 2000 (a quarter more training time, ~50 s on 2 cores) for dubs as good as
        # the 32 px renderer's; the demo with seeds 0 / 1 / 2, 2000 -> 2500 steps: dub-minus-source
        # lip sync 0.83 / 0.88 / 0.88 -> 0.90 / 0.89 / 0.92 (32 px: 0.68-0.90), reconstruction PSNR
        # 31.0 / 31.1 / 31.4 -> 31.3 / 31.8 / 31.5 (32 px: 31.5-32.2), LMD 5.91 / 5.87 / 5.54 -> 5.52 /
        # 5.68 / 5.68 (32 px: 5.79-7.57), sharpness over the source's 1.10 / 0.91 / 1.05 -> 1.13 /
        # 0.87 / 0.88 (32 px: 0.38-0.43).
        "train.num_steps": 2500,
        "train.learning_rate": 2e-3,
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
        "eval.lipsync_clips": 2,
        "eval.lipsync_frames": 8,
        "train.num_steps": 20,
        "train.learning_rate": 1e-3,
        "train.ema_decay": 0.9,
        "train.log_every": 5,
        "train.checkpoint_every": 10,
    },
}
