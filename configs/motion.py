"""Stage-2 motion-generator config. `--config=configs/motion.py:PRESET`, PRESET in real|synthetic|tiny."""

import ml_collections

from diffdub_jax.data import pipeline


def get_config(preset: str = "real") -> ml_collections.ConfigDict:
    config = ml_collections.ConfigDict()
    config.stage = "motion"
    config.preset = preset
    config.seed = 0
    config.data = pipeline.data_config(preset, "motion")
    # Stage 2 trains on z_sem sequences that the frozen stage-1 encoder extracted beforehand:
    # `python -m diffdub_jax.extract_latents --renderer_workdir=... --output=...`.
    config.data.latents_dir = ""
    config.data.one_shot_probability = 0.5  # references = one latent repeated, else consecutive frames

    model = config.model = ml_collections.ConfigDict()
    model.latent_dim = {"real": 512, "synthetic": 128, "tiny": 512}[preset]  # = the renderer's z_sem size
    model.audio_dim = {"real": 1024, "synthetic": 80, "tiny": 80}[preset]  # HuBERT-large width / mel bins
    model.audio_layers = {"real": 25, "synthetic": 0, "tiny": 0}[preset]  # 0: features have no layer axis
    model.num_heads = 2
    model.hidden_units = {"real": 512, "synthetic": 256, "tiny": 64}[preset]
    model.kernel_size = {"real": 13, "synthetic": 13, "tiny": 5}[preset]
    model.reference_blocks = {"real": 2, "synthetic": 1, "tiny": 1}[preset]
    model.speech_blocks = {"real": 4, "synthetic": 2, "tiny": 1}[preset]
    model.decoder_blocks = {"real": 4, "synthetic": 2, "tiny": 1}[preset]
    model.cross_attention_heads = {"real": 8, "synthetic": 8, "tiny": 4}[preset]
    model.dropout_rate = {"real": 0.2, "synthetic": 0.1, "tiny": 0.0}[preset]
    model.cross_attention_dropout_rate = {"real": 0.1, "synthetic": 0.1, "tiny": 0.0}[preset]
    # The release's cross-attention has no residual (converted official weights need False).
    model.residual_cross_attention = True
    # Standardise z_sem with the extracted latents' statistics and predict offsets from the
    # references' mean (the release predicts raw z_sem; converted official weights need False).
    model.normalise_latents = True

    train = config.train = ml_collections.ConfigDict()
    train.num_steps = {"real": 200_000, "synthetic": 800, "tiny": 20}[preset]
    train.learning_rate = {"real": 1e-4, "synthetic": 1e-3, "tiny": 1e-3}[preset]
    # 'cosine' decays to a tenth by num_steps: the short synthetic run ends settled (the release: constant).
    train.lr_schedule = {"real": "constant", "synthetic": "cosine", "tiny": "constant"}[preset]
    train.grad_clip_norm = {"real": 0.0, "synthetic": 1.0, "tiny": 1.0}[preset]  # 0: none, as the release
    train.ema_decay = {"real": 0.0, "synthetic": 0.0, "tiny": 0.0}[preset]  # the release keeps no EMA
    train.ema_warmup = False
    train.log_every = {"real": 100, "synthetic": 50, "tiny": 5}[preset]
    train.checkpoint_every = {"real": 5000, "synthetic": 200, "tiny": 10}[preset]
    train.keep_checkpoints = 3
    train.fsdp = False
    config.audio = ml_collections.ConfigDict()
    # 'hubert': every HuBERT-large hidden state (diffdub_jax.data.audio_features) read from a local
    # Hugging Face folder; 'mel': log-mel, needs no weights (the synthetic set ships none).
    config.audio.frontend = "hubert" if preset == "real" else "mel"
    config.audio.hubert_dir = "checkpoints/chinese-hubert-large"
    config.audio.chunk_seconds = 30.0  # HuBERT windows (one compiled shape), of which
    config.audio.context_seconds = 3.0  # this much on each side is computed and dropped
    config.audio.num_mels = 80
    return config
