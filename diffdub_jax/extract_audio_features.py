"""HuBERT features of an audio file, aligned to a video (stage-2 input), saved as .npy.

    python -m diffdub_jax.extract_audio_features --audio=speech.wav --hubert=checkpoints/chinese-hubert-large \
        --fps=25 --num_frames=250 --output=feats.npy

Writes float16 (num_hidden_states, 2 * num_frames, hidden), e.g. (25, 500, 1024) for HuBERT-large.
"""

from __future__ import annotations

import sys

from absl import flags

from diffdub_jax import cli
from diffdub_jax.serving import audio_frontend

_AUDIO = flags.DEFINE_string("audio", None, "Audio (or video) file ffmpeg can decode.", required=True)
_HUBERT = flags.DEFINE_string("hubert", None, "Local Hugging Face HuBERT folder (config.json + weights).",
                              required=True)
_FPS = flags.DEFINE_float("fps", 25.0, "Frame rate of the video the features are aligned to.")
_NUM_FRAMES = flags.DEFINE_integer("num_frames", None, "Number of video frames.", required=True)
_OUTPUT = flags.DEFINE_string("output", None, "Output .npy path.", required=True)
_CHUNK = flags.DEFINE_float("chunk_seconds", audio_frontend.DEFAULT_CHUNK_SECONDS, "Window length (seconds).")
_CONTEXT = flags.DEFINE_float("context_seconds", audio_frontend.DEFAULT_CONTEXT_SECONDS,
                              "Context dropped on each side of a window (seconds).")


def main(argv: list[str]) -> None:
    del argv
    try:
        shape = audio_frontend.extract_to_file(_AUDIO.value, _HUBERT.value, _FPS.value, _NUM_FRAMES.value,
                                               _OUTPUT.value, _CHUNK.value, _CONTEXT.value)
    except (ValueError, OSError, ImportError) as error:  # AudioError, HubertCheckpointError among them
        sys.exit(f"error: {error}")
    print(f"wrote {_OUTPUT.value}: float16 {shape}")


if __name__ == "__main__":
    cli.run(main)
