"""HDTF at scale, measured on this machine: the build, the stage-1 input pipeline, stage-2 features.

    python benchmarks/hdtf.py --seconds=10

1. Build: a 1280x720, 30 fps talking-face video (a real face, tests/hdtf_fixtures.py) built as one
   clip, phase by phase (decode at 25 fps, face detection for the crop at 1 frame/s, landmarks per
   frame, crop/resize, PNG encode), then the whole clip through the builder on one core (its
   records written by TFDS: `write` is what the whole build adds to the phases). Throughput is in
   source seconds per wall second per core; the builder runs one clip per core.
2. Stage-1 input: examples/s of the `real` renderer pipeline (256 px, batch 32) on one host core
   over the built clip, and the size of a record.
3. Stage-2 features: HuBERT-large (random weights, JAX) on one training example's audio (a 10 s
   window with 3 s of context each side), against the `real` motion generator's whole train step
   per example on the same CPU: what computing the features inside the step would add. And the
   feature store's size per audio second.

Measured on the 2-core CPU machine (10 s source):
| phase | s | share |
| decode (25 fps) | 1.32 | 10% |
| detect (crop, 1 fps) | 1.52 | 12% |
| landmarks | 5.33 | 40% |
| crop/resize | 1.01 | 8% |
| PNG encode | 2.77 | 21% |
| write + the rest | 1.23 | 9% |
| whole build | 13.18 | 100% |
throughput: 0.76 source s per wall s per core (HDTF, 16 h: 21 core-hours)
Stage-1 input: 7.1 examples/s per host core (reading the record is 58% of it: 0.10 s for 250
frames, 23 MB; the example itself 0.08 s); a 325-frame record holds 29.5 MB of PNG.
Stage-2: HuBERT-large on one example's 16 s of audio 12.67 s; the real motion train step 2.18 s
per example: in-step features would multiply the step time by 6.8.
"""

from __future__ import annotations

import os
import pathlib
import sys
import tempfile
import time

import jax
import jax.numpy as jnp
from absl import app, flags, logging

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "tests"))
import hdtf_fixtures  # noqa: E402  (benchmarks make their data as the tests do)
from config_loader import load_config  # noqa: E402

from diffdub_jax.data import datasets, faces, pipeline, video  # noqa: E402
from diffdub_jax.models import motion as motion_model  # noqa: E402
from diffdub_jax.models.hubert import Hubert  # noqa: E402
from diffdub_jax.training import motion as motion_training  # noqa: E402
from diffdub_jax.training.state import create_state, make_optimizer  # noqa: E402
from tfds_builders.hdtf import clips  # noqa: E402

_SECONDS = flags.DEFINE_float("seconds", 10.0, "Length of the benchmark's source video.")
_EXAMPLES = flags.DEFINE_integer("examples", 64, "Stage-1 examples to time.")

def _timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result

def build_phases(root: str) -> list[tuple[str, float]]:
    """Seconds per phase for one clip of the source video (phases run one after another)."""
    os.makedirs(os.path.join(root, "manual"))
    info = hdtf_fixtures.talking_video(os.path.join(root, "manual", "RD_Bench_000.mp4"), _SECONDS.value, 30,
                                       (1280, 720), face_size=260)
    path, detector = info["path"], faces.DlibDetector()
    meta = video.probe_video(path)
    decode, frames = _timed(lambda: list(video.read_frames(path, meta, fps=25)))
    detect, box = _timed(lambda: faces.fixed_crop_box(video.read_frames(path, meta, fps=1), detector))
    landmarks, _ = _timed(lambda: [faces.crop_landmarks(frame, box, detector) for frame in frames])
    crop, crops = _timed(lambda: [faces.crop_face(frame, box, 256) for frame in frames])
    encode, _ = _timed(lambda: [clips._png(image) for image in crops])  # pylint: disable=protected-access
    whole, _ = _timed(lambda: datasets.prepare("hdtf", os.path.join(root, "tfds"),
                                               manual_dir=os.path.join(root, "manual")))
    phases = [("decode (25 fps)", decode), ("detect (crop, 1 fps)", detect), ("landmarks", landmarks),
              ("crop/resize", crop), ("PNG encode", encode)]
    return phases + [("write + the rest", whole - sum(t for _, t in phases)), ("whole build", whole)]

def stage1_input(data_dir: str) -> tuple[float, float]:
    """(examples/s on one host core, MB per record) of the real renderer pipeline."""
    config = load_config("renderer", "real")
    config.data.data_dir, config.data.batch_size, config.data.read_threads = data_dir, 8, 1
    iterator = iter(pipeline.renderer_pipeline(config))
    next(iterator)
    seconds, _ = _timed(lambda: [next(iterator) for _ in range(_EXAMPLES.value // 8)])
    source = datasets.clip_source("hdtf", "train", data_dir)
    record = source[0]
    megabytes = sum(len(png) for png in record["frames"]["image"]) / 1e6
    return _EXAMPLES.value / seconds, megabytes * 325 / len(record["frames"]["image"])

def stage2_features() -> tuple[float, float]:
    """(HuBERT-large s per example, the real motion train step s per example), batch 2."""
    batch = 2
    hubert = Hubert(conv_bias=True, feat_extract_norm="layer", hidden_size=1024, num_hidden_layers=24,
                    num_attention_heads=16, intermediate_size=4096, do_stable_layer_norm=True)
    samples = 16 * 16000  # a 10 s window and 3 s of context on each side
    waveform = jnp.zeros((batch, samples), jnp.float32)
    params = jax.jit(hubert.init)(jax.random.key(0), waveform[:, :16000])
    forward = jax.jit(hubert.apply)
    forward(params, waveform).block_until_ready()
    hubert_seconds, _ = _timed(lambda: forward(params, waveform).block_until_ready())

    config = load_config("motion", "real")
    config.model.normalise_latents = False  # no extracted latents here; the same cost
    model = motion_model.build_motion_generator(config.model)
    variables = motion_model.init_variables(model, config.model.audio_dim, jax.random.key(0))
    optimizer = make_optimizer(config.train)
    state = create_state(variables["params"], optimizer, variables.get("batch_stats"))
    window, references = config.data.window_frames, config.data.num_reference_frames
    inputs = {"audio_features": jnp.zeros((batch, config.model.audio_layers, 2 * window, config.model.audio_dim)),
              "reference_latents": jnp.zeros((batch, references, config.model.latent_dim)),
              "latents": jnp.zeros((batch, window, config.model.latent_dim)),
              "valid": jnp.ones((batch, window), bool)}
    step = jax.jit(motion_training.make_train_step(model, config, optimizer))
    state, metrics = step(state, inputs, jax.random.key(1))
    jax.block_until_ready(metrics)
    step_seconds, _ = _timed(lambda: jax.block_until_ready(step(state, inputs, jax.random.key(1))[1]))
    return hubert_seconds / batch, step_seconds / batch

def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)  # the table, not the libraries' INFO lines
    with tempfile.TemporaryDirectory() as root:
        phases = build_phases(root)
        examples_per_second, record_mb = stage1_input(os.path.join(root, "tfds"))
    seconds = _SECONDS.value
    print(f"## Build: one {seconds:.0f} s 1280x720 30 fps clip on one core")
    print("| phase | s | share |")
    total = phases[-1][1]
    for name, value in phases:
        print(f"| {name} | {value:.2f} | {value / total:.0%} |")
    print(f"throughput: {seconds / total:.2f} source s per wall s per core "
          f"(HDTF, 16 h: {16 * 3600 / (seconds / total) / 3600:.0f} core-hours)")
    print("\n## Stage-1 input (real preset, 256 px)")
    print(f"{examples_per_second:.1f} examples/s per host core; a 325-frame record holds {record_mb:.1f} MB of PNG")
    hubert, step = stage2_features()
    print("\n## Stage-2 features (batch 2, 10 s windows, this CPU)")
    print(f"HuBERT-large on one example's 16 s of audio: {hubert:.2f} s; the real motion train step: "
          f"{step:.2f} s per example (in-step features would multiply the step time by {(hubert + step) / step:.1f})")
    print("feature store: 25 x 1024 float16 at 50 Hz = 2.56 MB per audio second (HDTF, 16 h: 147 GB)")

if __name__ == "__main__":
    app.run(main)
