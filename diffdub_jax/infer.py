"""Dubs a video with new speech: only the lower face is re-rendered.

    python -m diffdub_jax.infer --video=talk.mp4 --audio=speech.wav --output=dubbed.mp4 \
        --renderer_workdir=runs/renderer --motion_workdir=runs/motion

Many videos with one load of the models: `python -m diffdub_jax.dub_batch`.
"""

from absl import flags

from diffdub_jax import cli, dub_flags
from diffdub_jax.inference.dub import dub

_VIDEO = flags.DEFINE_string("video", None, "Source video (any container/codec ffmpeg reads; local or gs://).")
_AUDIO = flags.DEFINE_string("audio", None, "New speech (any audio or video file); default: the video's own track.")
_OUTPUT = flags.DEFINE_string("output", None, "Output mp4 (written atomically; local or gs://).")
flags.mark_flags_as_required(["video", "output", "renderer_workdir", "motion_workdir"])


def main(argv):
    del argv
    result = dub(_VIDEO.value, _OUTPUT.value, dub_flags.load_models(), audio_path=_AUDIO.value,
                 **dub_flags.dub_options())
    print(result.timing_table())
    print(f"wrote {result.output}: {result.num_frames} frames at {result.fps:g} fps, {result.width}x{result.height}, "
          f"{result.frames_with_face} with the face re-rendered; reference frame {result.reference_frame}")


if __name__ == "__main__":
    cli.run(main)
