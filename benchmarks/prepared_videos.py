"""The same video dubbed twice with different speech: the second reuses its prepared video.

    python benchmarks/prepared_videos.py --workdir=/tmp/bench_prepared [--renderer_workdir=R --motion_workdir=M]

The clip is a talking real face (tests/hdtf_fixtures.py), `--seconds` long at `--size`; without
workdirs both stages are tiny random-weight checkpoints (the preparation's cost does not depend on
them). One process, models loaded once; a warm-up dub of another clip compiles every program
first, so both timed dubs run compiled. "Before rendering" is infer's load and detect phases
(probe, decode, face track, crops; on a hit: the content hash and the entry's check).
"""

from __future__ import annotations

import shutil
import subprocess

from absl import app, flags, logging

from dubbing_setup import workdir_and_stages  # also puts tests/ on the path for the fixtures

_WORKDIR = flags.DEFINE_string("workdir", "/tmp/bench_prepared", "Where the clip, checkpoints, cache and dubs go.")
_SECONDS = flags.DEFINE_float("seconds", 20.0, "Length of the clip.")
_SIZE = flags.DEFINE_list("size", ["1280", "720"], "Width, height of the clip.")
_RENDERER = flags.DEFINE_string("renderer_workdir", None, "Stage 1 (default: tiny random weights).")
_MOTION = flags.DEFINE_string("motion_workdir", None, "Stage 2 (default: tiny random weights).")


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    from hdtf_fixtures import talking_video  # pylint: disable=import-outside-toplevel

    from diffdub_jax.inference.dub import dub  # pylint: disable=import-outside-toplevel
    from diffdub_jax.inference.models import DubbingModels  # pylint: disable=import-outside-toplevel
    from diffdub_jax.inference.prepared import PreparedVideos  # pylint: disable=import-outside-toplevel

    root, renderer, motion = workdir_and_stages(_WORKDIR.value, _RENDERER.value, _MOTION.value)
    size = tuple(int(value) for value in _SIZE.value)
    clip, warm = root / "clip.mp4", root / "warm.mp4"
    if not clip.exists():
        talking_video(str(clip), _SECONDS.value, fps=25, size=size)
        talking_video(str(warm), 2.0, fps=25, size=size, motion_seed=1)
    speeches = []
    for index, voice in enumerate(("en", "en+f3")):  # the same words in two voices: two speeches of one length
        speeches.append(str(root / f"speech_{index}.wav"))
        subprocess.run(["espeak-ng", "-v", voice, "-w", speeches[-1], " ".join(["a new speech for this face"] * 8)],
                       check=True)
    shutil.rmtree(root / "cache", ignore_errors=True)
    cache = PreparedVideos(str(root / "cache"))
    models = DubbingModels.load(renderer, motion)
    dub(str(warm), str(root / "warm_dub.mp4"), models, audio_path=speeches[0], prepared_videos=cache)
    rows = []
    for index, speech in enumerate(speeches):
        result = dub(str(clip), str(root / f"dub_{index}.mp4"), models, audio_path=speech, prepared_videos=cache)
        before = result.timings["load"] + result.timings["detect"]
        rows.append((index + 1, result.prepared_from_cache, before, sum(result.timings.values()), result.num_frames))
        print(f"dub {index + 1} phases (s): {result.timings}")
    print(f"| {_SECONDS.value:g} s at {size[0]}x{size[1]} | prepared kept | before rendering s | total s | frames |")
    print("|---|---|---|---|---|")
    for number, cached, before, total, frames in rows:
        print(f"| dub {number} | {cached} | {before:.2f} | {total:.2f} | {frames} |")
    print(f"second / first: before rendering {rows[1][2] / rows[0][2]:.3f}, total {rows[1][3] / rows[0][3]:.2f}")


if __name__ == "__main__":
    app.run(main)
