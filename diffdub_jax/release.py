"""The release's architecture and framing (DiffDub `stage1.ckpt` / `stage2.ckpt`, DESIGN §2).

The library's own record of what the authors' checkpoints are: `convert` starts from it (and
reads what the tensors determine from their shapes), and `configs/renderer.py` and
`configs/motion.py` build their `real` preset on it, adding the training settings.
"""

from __future__ import annotations

import ml_collections


def renderer_config() -> ml_collections.ConfigDict:
    """Stage 1: the BeatGANs autoencoder UNet + semantic encoder on 256 px crops, epsilon
    prediction, 20 DDIM steps; the authors' 1.6x face-box crop and per-frame, 8 px edit masks."""
    config = ml_collections.ConfigDict()
    config.stage = "renderer"
    data = config.data = ml_collections.ConfigDict()
    data.image_size = 256
    data.num_references = 1
    data.crop_scale = 1.6  # crop side / max(face box width, height)
    data.mask_window = 0  # frames each side whose edit regions make a frame's mask (0: per frame)
    data.mask_dilation = 8.0  # px at 256: cv2.dilate(5x5 kernel, iterations=4)

    model = config.model = ml_collections.ConfigDict()
    model.channels = 128
    model.channel_mult = (1, 1, 2, 2, 4, 4)
    model.encoder_channel_mult = (1, 1, 2, 2, 4, 4, 4)
    model.num_res_blocks = 2
    model.attention_resolutions = (16,)
    model.embed_channels = 512
    model.num_heads = 1
    model.dropout = 0.1
    model.patch_size = 1  # pixels per side each UNet and encoder position sees (models.renderer)
    model.reference_residual = False  # x0 renderers: draw the change from the reference frame
    model.compute_dtype = "float32"  # or 'bfloat16' on accelerators

    diffusion = config.diffusion = ml_collections.ConfigDict()
    diffusion.num_timesteps = 1000
    diffusion.beta_start = 1e-4
    diffusion.beta_end = 0.02
    diffusion.prediction = "epsilon"  # what the UNet outputs: 'epsilon' | 'x0' | 'v' (diffusion.schedule)
    diffusion.sampler = "ddim"  # or 'dpm_solver_2m' (diffusion.ddim.SAMPLERS)
    diffusion.sample_steps = 20
    return config


def motion_config() -> ml_collections.ConfigDict:
    """Stage 2: the HuBERT-large conformer (25 hidden states, 75 reference latents), with no
    residual around its cross-attention and raw z_sem outputs, as the release has it."""
    config = ml_collections.ConfigDict()
    config.stage = "motion"
    data = config.data = ml_collections.ConfigDict()
    data.window_frames = 250  # 10 s at 25 fps
    data.num_reference_frames = 75  # 3 s

    model = config.model = ml_collections.ConfigDict()
    model.latent_dim = 512  # = the renderer's z_sem size
    model.audio_dim = 1024  # HuBERT-large width
    model.audio_layers = 25  # hidden states weighted (0: features have no layer axis)
    model.num_heads = 2
    model.hidden_units = 512
    model.kernel_size = 13
    model.reference_blocks = 2
    model.speech_blocks = 4
    model.decoder_blocks = 4
    model.cross_attention_heads = 8
    model.dropout_rate = 0.2
    model.cross_attention_dropout_rate = 0.1
    model.residual_cross_attention = False
    model.normalise_latents = False

    audio = config.audio = ml_collections.ConfigDict()
    # 'hubert': every HuBERT-large hidden state (serving.audio_frontend) read from a local Hugging
    # Face folder; 'mel': log-mel, needs no weights.
    audio.frontend = "hubert"
    audio.hubert_dir = "checkpoints/chinese-hubert-large"
    audio.chunk_seconds = 30.0  # HuBERT windows (one compiled shape), of which
    audio.context_seconds = 3.0  # this much on each side is computed and dropped
    audio.num_mels = 80
    return config
