"""Eight dubs as one `dub_batch` against eight `infer` processes: total wall time.

    python benchmarks/dub_batch.py --workdir=/tmp/bench_batch [--renderer_workdir=R --motion_workdir=M]

The clips are talking real faces (tests/hdtf_fixtures.py), `--seconds` long; without workdirs both
stages are tiny random-weight checkpoints (tests/renderer_fixtures.py: speed of the pipeline around
the models, not of what they learned). The compilation cache is warmed by one `infer` first, so
both ways read compiled programs: what the batch saves is process start-up, imports and model
loading, paid once instead of per video (prepared videos are off for both). A rerun of the batch
skips every written dub.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import time

from absl import app, flags, logging

from dubbing_setup import workdir_and_stages  # also puts tests/ on the path for the fixtures

_WORKDIR = flags.DEFINE_string("workdir", "/tmp/bench_batch", "Where clips, checkpoints and dubs go.")
_JOBS = flags.DEFINE_integer("jobs", 8, "Number of dubs.")
_SECONDS = flags.DEFINE_float("seconds", 2.0, "Length of each clip.")
_RENDERER = flags.DEFINE_string("renderer_workdir", None, "Stage 1 (default: tiny random weights).")
_MOTION = flags.DEFINE_string("motion_workdir", None, "Stage 2 (default: tiny random weights).")


def _timed(command: list[str]) -> float:
    tick = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - tick


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    from hdtf_fixtures import talking_video  # pylint: disable=import-outside-toplevel

    root, renderer, motion = workdir_and_stages(_WORKDIR.value, _RENDERER.value, _MOTION.value)
    clips = []
    for index in range(_JOBS.value):
        clips.append(str(root / f"clip_{index}.mp4"))
        if not os.path.isfile(clips[-1]):
            talking_video(clips[-1], _SECONDS.value, fps=25, motion_seed=index)
    # no prepared videos: both ways prepare every clip (the infer runs would fill it for the batch)
    models = [f"--renderer_workdir={renderer}", f"--motion_workdir={motion}", f"--compilation_cache_dir={root / 'xla'}",
              "--prepared_videos_dir="]
    infer = [sys.executable, "-m", "diffdub_jax.infer", *models]
    _timed(infer + [f"--video={clips[0]}", f"--output={root / 'warm.mp4'}"])  # fills the compilation cache
    (root / "infer").mkdir(exist_ok=True)
    separate = sum(_timed(infer + [f"--video={clip}", f"--output={root / 'infer' / pathlib.Path(clip).name}"])
                   for clip in clips)
    (root / "jobs.csv").write_text("video\n" + "\n".join(clips) + "\n")
    command = [sys.executable, "-m", "diffdub_jax.dub_batch", f"--manifest={root / 'jobs.csv'}",
               f"--output_dir={root / 'batch'}", *models]
    batch = _timed(command + ["--overwrite"])
    rerun = _timed(command)  # every output written: all skipped
    print(f"| {_JOBS.value} dubs of {_SECONDS.value:g} s | wall s | per dub s |\n|---|---|---|")
    print(f"| {_JOBS.value} `infer` processes | {separate:.1f} | {separate / _JOBS.value:.1f} |")
    print(f"| one `dub_batch` | {batch:.1f} | {batch / _JOBS.value:.1f} |")
    print(f"| the same `dub_batch` again (all written: skipped) | {rerun:.1f} | |")
    print(f"batch / processes: {batch / separate:.2f}; rerun / batch: {rerun / batch:.2f}")


if __name__ == "__main__":
    app.run(main)
