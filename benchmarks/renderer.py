"""Stage-1 renderer throughput: UNet forward at the machine's peak, training and rendering rates.

    python benchmarks/renderer.py --presets=synthetic,real --measure=forward,train,render

Prints one table row per preset: UNet forward time, GFLOP (XLA cost analysis) and the fraction of
this machine's peak (a 4096^2 float32 matmul measured in the same run), train images/s, rendered
frames/s with 20 DDIM steps (--ddim_steps) batched over frames and one frame at a time (the release's way), the
UNet's share of the matmul peak while rendering each way (batching can only gain what a single frame
leaves idle), and peak memory (device stats on accelerators, max RSS on CPU; on GPUs it includes
XLA's convolution autotuning scratch). FLOPs come from the lowered program, before backend passes.
"""

from __future__ import annotations

import functools
import resource
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags
from ml_collections.config_flags.config_flags import ConfigFileFlagParser

from diffdub_jax.diffusion.schedule import Schedule
from diffdub_jax.models.renderer import Renderer, init_variables, renderer_from_config
from diffdub_jax.serving.renderer_service import RendererService
from diffdub_jax.training import renderer as renderer_training
from diffdub_jax.training.state import create_state, make_optimizer

_CONFIG = flags.DEFINE_string("config", "configs/renderer.py", "Renderer config file.")
_PRESETS = flags.DEFINE_list("presets", ["synthetic"], "Config presets to measure.")
_MEASURE = flags.DEFINE_list("measure", ["forward", "train", "render"], "What to measure.")
_BATCH = flags.DEFINE_integer("batch", 8, "Batch (frames) for training and batched rendering.")
_REPEATS = flags.DEFINE_integer("repeats", 3, "Timed repetitions (after one warm-up).")
_DTYPE = flags.DEFINE_enum("dtype", "float32", ["float32", "bfloat16"], "Compute dtype.")
_DDIM_STEPS = flags.DEFINE_integer("ddim_steps", 20, "DDIM steps per rendered frame (the release's 20 by "
                                   "default, whatever the preset samples with, so rows compare).")


def timed(fn, *args, repeats: int, label: str = "") -> float:
    """Fastest of `repeats` timed calls, after a warm-up call (compilation; logged to stderr).

    The fastest, not the median: on shared machines other work only ever slows a call down."""
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    print(f"  {label}: warm-up (compile + run) {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - start)
    return min(times)


def peak_flops(repeats: int) -> float:
    """float32 FLOP/s of a 4096^2 matmul on the default device."""
    a = jax.random.normal(jax.random.key(0), (4096, 4096), jnp.float32)
    matmul = jax.jit(lambda x: x @ x)
    return 2 * 4096**3 / timed(matmul, a, repeats=repeats, label="matmul peak")


def flops_of(lowered) -> float:
    """FLOPs of the program before backend passes: on GPUs, compiled convolutions become cuDNN calls
    that XLA's cost analysis no longer counts."""
    analysis = lowered.cost_analysis()
    analysis = analysis[0] if isinstance(analysis, (list, tuple)) else analysis
    return float(analysis.get("flops", float("nan")))


def peak_memory_gib() -> float:
    stats = jax.devices()[0].memory_stats() or {}
    if "peak_bytes_in_use" in stats:
        return stats["peak_bytes_in_use"] / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def batch_of(size: int, frames: int, references: int) -> dict:
    rng = np.random.default_rng(0)
    image = rng.uniform(-1, 1, (frames, size, size, 3)).astype(np.float32)
    mask = np.zeros((frames, size, size, 1), np.float32)
    mask[:, size // 2 :, size // 4 : 3 * size // 4] = 1
    return {"image": image, "reference": np.tile(image, (1, 1, 1, references)), "encoder_crop": image,
            "edit_mask": mask}


def measure(preset: str, peak: float) -> dict:
    config = ConfigFileFlagParser("config", lock_config=False).parse(f"{_CONFIG.value}:{preset}")
    config.model.compute_dtype = _DTYPE.value
    config.diffusion.sample_steps = _DDIM_STEPS.value
    size = config.data.image_size
    model = renderer_from_config(config)
    params = jax.jit(lambda key: init_variables(model, key))(jax.random.key(0))["params"]
    schedule = Schedule.from_config(config.diffusion)
    row = {"preset": preset, "size": size}
    repeats = _REPEATS.value

    one = batch_of(size, 1, config.data.num_references)
    z = jnp.zeros((1, config.model.embed_channels))
    forward = jax.jit(lambda p, b: model.apply({"params": p}, b["image"], b["reference"],
                                               jnp.array([500]), z, method=Renderer.denoise))
    lowered = forward.lower(params, one)
    flops = flops_of(lowered)  # lowering only: cheap, and the render rows need it too
    row["forward_gflop"] = flops / 1e9
    if "forward" in _MEASURE.value:
        seconds = timed(lowered.compile(), params, one, repeats=repeats, label=f"{preset} forward")
        row.update(forward_s=seconds, forward_peak_fraction=flops / seconds / peak)

    if "train" in _MEASURE.value:
        optimizer = make_optimizer(config.train)
        state = create_state(params, optimizer)
        step = jax.jit(functools.partial(renderer_training.train_step, model=model, schedule=schedule,
                                         optimizer=optimizer, ema_decay=0.999))
        batch = batch_of(size, _BATCH.value, config.data.num_references)
        key = jax.random.key(1)
        seconds = timed(lambda s: step(s, batch, key)[1]["loss"], state, repeats=repeats, label=f"{preset} train")
        row["train_images_per_s"] = _BATCH.value / seconds

    if "render" in _MEASURE.value:
        frames = batch_of(size, _BATCH.value, config.data.num_references)
        z_sem = np.zeros((_BATCH.value, config.model.embed_channels), np.float32)
        rates = {}
        for name, count in (("batched", _BATCH.value), ("single", 1)):  # the service `infer` renders with
            service = RendererService(config, params, batch_size=count)
            x_T = service.noise(2)
            rates[name] = timed(lambda: service.render(frames["image"][:count], frames["reference"][:count],
                                                       frames["edit_mask"][:count], x_T, z_sem=z_sem[:count]),
                                repeats=repeats, label=f"{preset} render {name}")
        batched, one_at_a_time = rates["batched"], rates["single"]
        row["render_fps_batched"] = _BATCH.value / batched
        row["render_fps_single"] = 1.0 / one_at_a_time
        row["batched_speedup"] = row["render_fps_batched"] / row["render_fps_single"]
        # UNet FLOP/s while rendering, as a fraction of the matmul peak: how much room batching had.
        unet_flops_per_frame = config.diffusion.sample_steps * flops
        row["batched_peak_fraction"] = row["render_fps_batched"] * unet_flops_per_frame / peak
        row["single_peak_fraction"] = row["render_fps_single"] * unet_flops_per_frame / peak
    row["peak_memory_gib"] = peak_memory_gib()
    return row


def main(argv):
    del argv
    peak = peak_flops(_REPEATS.value)
    print(f"device: {jax.devices()[0].device_kind}; fp32 matmul peak {peak / 1e9:.0f} GFLOP/s; "
          f"dtype {_DTYPE.value}; batch {_BATCH.value}", flush=True)
    columns = ["preset", "size", "forward_s", "forward_gflop", "forward_peak_fraction", "train_images_per_s",
               "render_fps_batched", "render_fps_single", "batched_speedup", "batched_peak_fraction",
               "single_peak_fraction", "peak_memory_gib"]
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns), flush=True)
    for preset in _PRESETS.value:  # a row as soon as it is measured: big presets take minutes
        row = measure(preset, peak)
        cells = [f"{row[c]:.3g}" if isinstance(row.get(c), float) else str(row.get(c, "-")) for c in columns]
        print("| " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    app.run(main)
