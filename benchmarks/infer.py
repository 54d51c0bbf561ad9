"""`infer` end to end at the release's 256 px: per-stage seconds and output frames/s, first and
second run (the second reads its compiled programs from the persistent cache).

    python benchmarks/infer.py --workdir=/tmp/bench_infer --compute_dtype=bfloat16 --batch_size=32

The source is a talking real face (tests/hdtf_fixtures.py: scikit-image's astronaut moved every
frame, espeak-ng speech), 1280x720 at 25 fps by default; `--video` takes any clip instead. Both
stages are the `real` presets with random weights (stage 2 on log-mel features, so no HuBERT folder
is needed): speed does not depend on what the weights learned. Each run is a fresh process with
the same compilation cache directory, emptied before the first.

Face tracking is dlib's, on the host. Where dlib's model files are missing (an accelerator
machine with no internet), `--record_detections=FILE` on a machine that has them writes the
detector's answers for the clip, and `--detections=FILE` replays them there: the `detect` stage
then costs nothing and its time is the one measured where it was recorded.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import pickle
import shutil
import subprocess
import sys
import time

import numpy as np
from absl import app, flags, logging

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "tests"))  # hdtf_fixtures: the clip
from config_loader import load_config  # noqa: E402

_WORKDIR = flags.DEFINE_string("workdir", "/tmp/bench_infer", "Where the clip, the random checkpoints, the cache "
                               "and the outputs go.")
_VIDEO = flags.DEFINE_string("video", None, "Source clip (default: a generated real-face clip in --workdir).")
_SECONDS = flags.DEFINE_float("seconds", 10.0, "Length of the generated clip.")
_SIZE = flags.DEFINE_list("size", ["1280", "720"], "Width, height of the generated clip.")
_PRESET = flags.DEFINE_string("preset", "real", "Config preset of both stages (`tiny` for a quick check on a CPU).")
_RUNS = flags.DEFINE_integer("runs", 2, "infer runs, each in a fresh process sharing the compilation cache.")
_BATCH = flags.DEFINE_integer("batch_size", 32, "Frames rendered per batch.")
_DTYPE = flags.DEFINE_string("compute_dtype", None, "The renderer's compute dtype (default: the checkpoint's).")
_SAMPLER = flags.DEFINE_string("sampler", None, "Sampler (default: the checkpoint's, DDIM).")
_STEPS = flags.DEFINE_integer("sample_steps", None, "Sampler steps (default: the checkpoint's, 20).")
_RECORD = flags.DEFINE_string("record_detections", None, "Write the face detector's answers for the clip here.")
_REPLAY = flags.DEFINE_string("detections", None, "Replay the face detector's answers from this file.")
_ENVIRONMENT = dict(os.environ)  # the timed runs' environment, as this process started
_CHILD = flags.DEFINE_bool("child", False, "Internal: one timed infer run.")


def _frame_key(frame) -> str:
    return hashlib.sha1(np.ascontiguousarray(frame).tobytes()).hexdigest()


class RecordingDetector:
    """dlib's detector, keeping every answer by the frame it was asked about; as dlib's, it may
    be called from several threads at once (`infer` searches frames on every core)."""

    thread_safe = True

    def __init__(self):
        from diffdub_jax.data.faces import DlibDetector  # pylint: disable=import-outside-toplevel
        self.detector, self.answers = DlibDetector(), {}

    def detect(self, frame):
        answer = self.answers[_frame_key(frame)] = self.detector.detect(frame)
        return answer


class ReplayDetector:
    """The answers a RecordingDetector kept (the same clip asks about the same frames)."""

    thread_safe = True

    def __init__(self, path: str):
        with open(path, "rb") as file:
            self.answers = pickle.load(file)

    def detect(self, frame):
        return self.answers[_frame_key(frame)]


def source_clip(workdir: pathlib.Path) -> str:
    if _VIDEO.value:
        return _VIDEO.value
    path = workdir / "source.mp4"
    if not path.exists():
        import hdtf_fixtures  # pylint: disable=import-outside-toplevel
        width, height = map(int, _SIZE.value)
        hdtf_fixtures.talking_video(str(path), _SECONDS.value, fps=25, size=(width, height),
                                    face_size=0.3 * height, audio_rate=16000, stereo=False)
    return str(path)


def random_checkpoints(workdir: pathlib.Path) -> tuple[str, str]:
    """The preset's renderer and motion generator (on log-mel features), random weights, made on
    the CPU: this process must leave the accelerator's memory to the timed runs."""
    os.environ["XLA_PYTHON_CLIENT_PREALLOCATE"] = "false"  # leave the accelerator's memory to the timed runs
    import jax  # pylint: disable=import-outside-toplevel
    from diffdub_jax.models import motion, renderer  # pylint: disable=import-outside-toplevel
    from diffdub_jax.workdir import Workdir  # pylint: disable=import-outside-toplevel

    renderer_dir, motion_dir = workdir / "renderer", workdir / "motion"
    if not renderer_dir.exists():
        config = load_config("renderer", _PRESET.value)
        model = renderer.renderer_from_config(config)
        params = jax.jit(lambda key: renderer.init_variables(model, key))(jax.random.key(0))["params"]
        Workdir(renderer_dir).save_variables({"params": params}, config)
    if not motion_dir.exists():
        config = load_config("motion", _PRESET.value)
        config.update_from_flattened_dict({"audio.frontend": "mel", "model.audio_dim": 80, "model.audio_layers": 0})
        variables = motion.init_variables(motion.build_motion_generator(config.model), config.model.audio_dim,
                                          jax.random.key(0))
        Workdir(motion_dir).save_variables(variables, config)
    return str(renderer_dir), str(motion_dir)


def child(workdir: pathlib.Path, video_path: str, run: int) -> None:
    """One infer, as `python -m diffdub_jax.infer` does it, with the detector this benchmark chose."""
    import jax  # pylint: disable=import-outside-toplevel
    from diffdub_jax.inference.dub import dub  # pylint: disable=import-outside-toplevel
    from diffdub_jax.inference.models import DubbingModels  # pylint: disable=import-outside-toplevel
    from diffdub_jax.serving.renderer_service import RenderOptions  # pylint: disable=import-outside-toplevel

    jax.config.update("jax_compilation_cache_dir", str(workdir / "xla_cache"))
    began = time.perf_counter()
    models = DubbingModels.load(workdir / "renderer", workdir / "motion", _BATCH.value,
                                render_options=RenderOptions(_DTYPE.value, _SAMPLER.value, _STEPS.value))
    detector = ReplayDetector(_REPLAY.value) if _REPLAY.value else RecordingDetector()
    result = dub(video_path, str(workdir / f"dubbed_{run}.mp4"), models, detector=detector)
    if _RECORD.value and isinstance(detector, RecordingDetector):
        with open(_RECORD.value, "wb") as file:
            pickle.dump(detector.answers, file)
    print(json.dumps({"run": run, "frames": result.num_frames, "timings": result.timings,
                      "process_s": time.perf_counter() - began, "device": jax.devices()[0].device_kind}))


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    workdir = pathlib.Path(_WORKDIR.value)
    workdir.mkdir(parents=True, exist_ok=True)
    video_path = source_clip(workdir)
    if _CHILD.value:
        child(workdir, video_path, int(os.environ["BENCH_INFER_RUN"]))
        return
    random_checkpoints(workdir)
    shutil.rmtree(workdir / "xla_cache", ignore_errors=True)
    passed = [arg for arg in sys.argv[1:] if not arg.startswith("--runs")]
    print(f"{video_path}; batch {_BATCH.value}, dtype {_DTYPE.value or 'checkpoint'}, sampler "
          f"{_SAMPLER.value or 'checkpoint'} {_STEPS.value or ''}", flush=True)
    for run in range(1, _RUNS.value + 1):  # a row as soon as its run ends
        began = time.perf_counter()
        out = subprocess.run([sys.executable, __file__, "--child", f"--video={video_path}", *passed], check=True,
                             stdout=subprocess.PIPE, text=True, env={**_ENVIRONMENT, "BENCH_INFER_RUN": str(run)})
        row = json.loads(out.stdout.strip().splitlines()[-1])
        stages, total = list(row["timings"]), sum(row["timings"].values())
        if run == 1:
            print(f"device: {row['device']}; {row['frames']} frames")
            print("| run | " + " | ".join(stages) + " | dub total | output frames/s | process (with imports) |")
            print("|---" * (len(stages) + 4) + "|")
        print(f"| {run} | " + " | ".join(f"{row['timings'][s]:.2f}" for s in stages)
              + f" | {total:.2f} | {row['frames'] / total:.1f} | {time.perf_counter() - began:.1f} |", flush=True)


if __name__ == "__main__":
    app.run(main)
