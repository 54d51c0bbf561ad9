"""Stage-2 audio features, stored once: of every record of a dataset, or of one audio file.

    python -m diffdub_jax.extract_audio_features --config=configs/motion.py --output=runs/features \
        --hubert_dir=checkpoints/chinese-hubert-large
        every record of the config's dataset (train and test), float16 per record, resumable; on a
        multi-host job (train's --multihost or --coordinator_address/--num_processes/--process_id)
        each process takes its share. Train with --config.data.features_dir=runs/features.
    python -m diffdub_jax.extract_audio_features --audio=speech.wav --hubert_dir=... --fps=25 \
        --num_frames=250 --output=feats.npy
        one file: float16 (num_hidden_states, 2 * num_frames, hidden), e.g. (25, 500, 1024).
"""

from __future__ import annotations

import jax
from absl import flags
from ml_collections import config_flags

from diffdub_jax import cli, distributed
from diffdub_jax.errors import InvalidInputError
from diffdub_jax.serving import audio_frontend
from diffdub_jax.training.features import extract_audio_features

_CONFIG = config_flags.DEFINE_config_file("config", None, "Stage-2 config (dataset mode).")
_AUDIO = flags.DEFINE_string("audio", None, "Audio (or video) file ffmpeg can decode (one-file mode).")
_HUBERT = flags.DEFINE_string("hubert_dir", None, "Local Hugging Face HuBERT folder (config.json + weights); "
                              "default: the config's audio.hubert_dir.")
_SPLITS = flags.DEFINE_list("splits", ["train", "test"], "Dataset splits (dataset mode).")
_FPS = flags.DEFINE_float("fps", 25.0, "Frame rate of the video the features are aligned to (one-file mode).")
_NUM_FRAMES = flags.DEFINE_integer("num_frames", None, "Number of video frames (one-file mode).")
_OUTPUT = flags.DEFINE_string("output", None, "Store directory (dataset mode) or .npy path (one-file mode).",
                              required=True)
_CHUNK = flags.DEFINE_float("chunk_seconds", audio_frontend.DEFAULT_CHUNK_SECONDS, "Window length (seconds).")
_JOIN = distributed.define_flags()
_CONTEXT = flags.DEFINE_float("context_seconds", audio_frontend.DEFAULT_CONTEXT_SECONDS,
                              "Context dropped on each side of a window (seconds).")


def main(argv: list[str]) -> None:
    del argv
    if (_CONFIG.value is None) == (_AUDIO.value is None):
        raise InvalidInputError("pass either --config (a dataset) or --audio (one file)")
    if _CONFIG.value is not None:
        _JOIN()  # each process of a multi-host job extracts its share of the records
        counts = extract_audio_features(_CONFIG.value, _OUTPUT.value, tuple(_SPLITS.value),
                                        hubert_dir=_HUBERT.value, process_index=jax.process_index(),
                                        process_count=jax.process_count())
        print(f"wrote audio features to {_OUTPUT.value}: {counts}")
        return
    if _HUBERT.value is None or _NUM_FRAMES.value is None:
        raise InvalidInputError("--audio needs --hubert_dir and --num_frames")
    shape = audio_frontend.extract_to_file(_AUDIO.value, _HUBERT.value, _FPS.value, _NUM_FRAMES.value,
                                           _OUTPUT.value, _CHUNK.value, _CONTEXT.value)
    print(f"wrote {_OUTPUT.value}: float16 {shape}")


if __name__ == "__main__":
    cli.run(main)
