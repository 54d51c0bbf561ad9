"""Official stage-2 checkpoint (DiffDub `stage2.ckpt`, a Lightning `Seq2SeqModel`) -> Orbax.

Its tensors live under `seq2seq.encoder.*` with ESPnet Conformer names, which our
`MotionGenerator` mirrors. Three things are not one-to-one: torch's MultiheadAttention packs
q/k/v as `in_proj_weight`, BatchNorm running statistics go to Flax's `batch_stats` collection, and
the release builds a `linear2` and `norm2` in its cross-attention that its forward never calls
(dropped). The architecture (widths, heads, block counts, kernel) is read from the tensor shapes;
the checkpoint's model has no residual around the cross-attention.
"""

from __future__ import annotations

import re
from typing import Mapping

import jax
import ml_collections
import numpy as np

from diffdub_jax import release
from diffdub_jax.convert import torch_state
from diffdub_jax.errors import InvalidInputError
from diffdub_jax.models.motion import MotionGenerator, build_motion_generator, init_variables
from diffdub_jax.workdir import Workdir

RELEASE_PREFIX = "seq2seq.encoder."
UNUSED_PREFIXES = ("cross_attention.linear2.", "cross_attention.norm2.")
BATCH_STAT_LEAVES = ("running_mean", "running_var")


def _release_tensors(state_dict: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    if any(key.startswith(RELEASE_PREFIX) for key in state_dict):
        state_dict = torch_state.select_prefix(state_dict, RELEASE_PREFIX)
    tensors = {}
    for key, value in state_dict.items():
        if key.startswith(UNUSED_PREFIXES) or key.endswith("num_batches_tracked"):
            continue
        tensors[re.sub(r"in_proj_(weight|bias)$", r"in_proj.\1", key)] = value
    return tensors


def architecture_from_tensors(tensors: Mapping[str, np.ndarray], model: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """`model` with every field the tensor shapes determine replaced by the checkpoint's."""
    if "down_sample_audio_nar.weight" not in tensors:
        raise InvalidInputError("not a stage-2 checkpoint with one audio down-sampling conv (the release's HuBERT "
                                f"variant); keys look like {sorted(tensors)[:5]}")
    model = model.copy_and_resolve_references()
    latent_dim, audio_dim, _ = tensors["down_sample_audio_nar.weight"].shape
    block = "speech_encoder.encoders.0."
    model.latent_dim = int(latent_dim)
    model.audio_dim = int(audio_dim)
    model.audio_layers = int(tensors["weights"].shape[0]) if "weights" in tensors else 0
    model.num_heads = int(tensors[block + "self_attn.pos_bias_u"].shape[0])
    model.hidden_units = int(tensors[block + "feed_forward.w_1.weight"].shape[0])
    model.kernel_size = int(tensors[block + "conv_module.depthwise_conv.weight"].shape[-1])
    for field, scope in (("reference_blocks", "reference_encoder"), ("speech_blocks", "speech_encoder"),
                         ("decoder_blocks", "coarse_decoder")):
        indices = {int(m.group(1)) for key in tensors if (m := re.match(rf"{scope}\.encoders\.(\d+)\.", key))}
        setattr(model, field, len(indices))
    model.residual_cross_attention = False
    model.normalise_latents = False
    return model


def convert_motion_state_dict(state_dict: Mapping[str, np.ndarray], model: MotionGenerator,
                              audio_dim: int) -> dict:
    """Variables for `model` from a release state dict (with or without `seq2seq.encoder.`)."""
    tensors = _release_tensors(state_dict)
    template = jax.eval_shape(lambda: init_variables(model, audio_dim, jax.random.key(0)))
    stats = {k: v for k, v in tensors.items() if k.endswith(BATCH_STAT_LEAVES)}
    params = {k: v for k, v in tensors.items() if k not in stats}
    return {
        "params": torch_state.convert_state_dict(params, {"model": template["params"]}, {"model": ""})["model"],
        "batch_stats": torch_state.convert_state_dict(
            stats, {"model": template["batch_stats"]}, {"model": ""})["model"],
    }


def is_motion_state_dict(state_dict: Mapping[str, np.ndarray]) -> bool:
    """Whether a release state dict holds the stage-2 generator (its tensors under `seq2seq.`)."""
    return any(key.startswith(("seq2seq.", "model.seq2seq.")) for key in state_dict)


def convert_motion_checkpoint(path: str, output: str, weights: str | None = None,
                              config: ml_collections.ConfigDict | None = None,
                              checkpoint: torch_state.TorchCheckpoint | None = None) -> ml_collections.ConfigDict:
    """Converts `path` (or its already loaded checkpoint) into a workdir at `output`; returns the
    config it matches (default: the release's, diffdub_jax.release, with the architecture read
    from the tensors, as the release saves no hyper_parameters for stage 2; weights default `model`)."""
    weights = weights or "model"
    config = release.motion_config() if config is None else config
    checkpoint = torch_state.load_torch_checkpoint(path) if checkpoint is None else checkpoint
    state_dict = checkpoint.tensors
    if any(key.startswith(weights + ".") for key in state_dict):
        state_dict = torch_state.select_prefix(state_dict, weights + ".")
    config = config.copy_and_resolve_references()
    try:
        config.model = architecture_from_tensors(_release_tensors(state_dict), config.model)
        model = build_motion_generator(config.model)
        variables = convert_motion_state_dict(state_dict, model, config.model.audio_dim)
    except (KeyError, ValueError) as error:
        raise InvalidInputError(f"{path}: {error}") from None
    Workdir(output).save_variables(variables, config)
    return config
