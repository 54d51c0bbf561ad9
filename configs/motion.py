"""Stage-2 motion-generator config: `--config=configs/motion.py[:PRESET]`, PRESET in real|synthetic|tiny.

Stage 2 trains on the z_sem of every frame, extracted once by the frozen stage-1 encoder:

    python -m diffdub_jax.extract_latents --renderer_workdir=runs/renderer --output=runs/latents
    python -m diffdub_jax.train --config=configs/motion.py --workdir=runs/motion \
        --config.data.latents_dir=runs/latents
        `real` (the default): the release's conformer on HuBERT-large features (diffdub_jax.release)
        and its training (Adam 1e-4, 10 s windows, batch 16) on HDTF.
    python -m diffdub_jax.train --config=configs/motion.py:synthetic --workdir=runs/motion \
        --config.data.latents_dir=runs/latents
        the demo's generator on log-mel features of the synthetic set: 1-2 minutes on 2 CPU
        cores; renders from its predicted latents follow the new audio (lip sync r ~0.9).
    `tiny`: for tests.

Presets are small overrides of `real` (PRESETS below), each saying why it departs.
"""

import ml_collections

from diffdub_jax import release
from diffdub_jax.data import reading


def get_config(preset: str = "real") -> ml_collections.ConfigDict:
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
    config = release.motion_config()
    config.preset = preset
    config.seed = 0

    data = config.data
    data.name = "hdtf"
    data.update(reading.READ_DEFAULTS)  # data_dir, seed, read_threads, worker_processes, cache_clips
    data.batch_size = 16
    data.latents_dir = ""  # what extract_latents wrote
    data.features_dir = ""  # what extract_audio_features wrote (HuBERT); empty: computed as clips are read
    data.one_shot_probability = 0.5  # references = one latent repeated, else consecutive frames

    # New training departs from the release in two ways (converted official weights need both False):
    # a residual around the cross-attention (DESIGN §2.3), and z_sem standardised with the extracted
    # latents' statistics, predicted as offsets from the references' mean.
    config.model.residual_cross_attention = True
    config.model.normalise_latents = True

    # Evaluators (evaluation.evaluators): run in training every `every` steps (0: only by `evaluate`).
    # Both render with the renderer the latents come from (or renderer_workdir).
    config.evals = ml_collections.ConfigDict()
    config.evals.dubbing = ml_collections.ConfigDict(  # any dataset: held-out dubs, scored as `score` does
        {"type": "dubbing", "split": "test", "every": 20_000, "max_clips": 8, "max_frames": 0,
         "settings": ("reconstruction", "cross_audio"), "renderer_workdir": "", "lpips_backbone": "",
         "lpips_net": "alex", "syncnet": "", "fid_inception": ""})
    config.evals.motion_lipsync = ml_collections.ConfigDict(  # the synthetic set: latent error, lip sync
        {"type": "motion_lipsync", "split": "test", "every": 0, "clips": 8, "frames": 32, "renderer_workdir": ""})

    train = config.train = ml_collections.ConfigDict()
    train.num_steps = 200_000
    train.learning_rate = 1e-4
    # 'cosine' decays to a tenth by num_steps (the release: constant).
    train.lr_schedule = "constant"
    train.grad_clip_norm = 0.0  # 0: none, as the release
    train.ema_decay = 0.0  # the release keeps no EMA
    train.ema_warmup = False
    train.log_every = 100
    train.checkpoint_every = 5000
    train.keep_checkpoints = 3
    train.fsdp = False

    config.update_from_flattened_dict(PRESETS[preset])
    return config


# Log-mel features: the synthetic set ships no HuBERT weights. Small sets stay in memory.
_SMALL_SET = {"data.cache_clips": 4096, "audio.frontend": "mel", "model.audio_dim": 80, "model.audio_layers": 0,
              "train.grad_clip_norm": 1.0, "evals.dubbing.every": 0}

PRESETS = {
    "real": {},
    "synthetic": {
        **_SMALL_SET,
        "data.name": "synthetic_talking_faces/64px",
        "data.window_frames": 100,
        "data.num_reference_frames": 50,
        "data.batch_size": 8,
        "model.latent_dim": 128,  # the synthetic renderer's z_sem
        "model.hidden_units": 256,
        "model.reference_blocks": 1,
        "model.speech_blocks": 2,
        "model.decoder_blocks": 2,
        # No dropout: its masks are a third of a CPU step, and the dubs are as good without it.
        "model.dropout_rate": 0.0,
        "model.cross_attention_dropout_rate": 0.0,
        "train.num_steps": 400,  # the dubs' lip sync is the same as after 800
        "train.learning_rate": 1e-3,
        "train.lr_schedule": "cosine",  # the short run ends settled instead of mid-stride
        "train.log_every": 50,
        "train.checkpoint_every": 200,
    },
    "tiny": {
        **_SMALL_SET,
        "data.name": "synthetic_talking_faces/small",
        "data.window_frames": 40,
        "data.num_reference_frames": 10,
        "data.batch_size": 2,
        "data.cache_clips": 64,
        "model.hidden_units": 64,
        "model.kernel_size": 5,
        "model.reference_blocks": 1,
        "model.speech_blocks": 1,
        "model.decoder_blocks": 1,
        "model.cross_attention_heads": 4,
        "model.dropout_rate": 0.0,
        "model.cross_attention_dropout_rate": 0.0,
        "evals.dubbing.max_clips": 2,
        "evals.dubbing.max_frames": 16,
        "evals.motion_lipsync.clips": 2,
        "evals.motion_lipsync.frames": 8,
        "train.num_steps": 20,
        "train.learning_rate": 1e-3,
        "train.log_every": 5,
        "train.checkpoint_every": 10,
    },
}
