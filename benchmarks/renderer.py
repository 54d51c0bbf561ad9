"""Stage-1 renderer throughput: UNet forward at the machine's peak, training and rendering rates.

    python benchmarks/renderer.py --presets=synthetic,real --measure=forward,train,render
    python benchmarks/renderer.py --presets=real --measure=render --samplers=ddim:20,dpm_solver_2m:10 \
        --render_batches=1,8,32 --dtypes=float32,bfloat16          # the GPU table

Prints one table row per preset: UNet forward time, GFLOP (XLA cost analysis) and the fraction of
this machine's peak (a 4096^2 float32 matmul measured in the same run), train images/s and peak
memory (device stats on accelerators, max RSS on CPU; on GPUs it includes XLA's convolution
autotuning scratch). FLOPs come from the lowered program, before backend passes.

Then, with `render`, one row per dtype x batch x sampler:steps: rendered frames/s through the
service `infer` uses (batch 1 is the release's one frame at a time), the UNet's share of the
matmul peak while rendering (what batching can still gain), and for bfloat16 its difference from
the float32 render of the same frames (max abs over pixels in [-1, 1], and PSNR in dB of one
against the other). The renders use random weights with the layers the release initialises to
zero redrawn, so the network is a non-trivial function and the difference is bfloat16's rounding
carried through the sampler, not a learned quality.
"""

from __future__ import annotations

import functools
import resource
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags, logging
from ml_collections.config_flags.config_flags import ConfigFileFlagParser

from diffdub_jax.diffusion.schedule import Schedule
from diffdub_jax.models.renderer import Renderer, init_variables, renderer_from_config
from diffdub_jax.serving.renderer_service import RenderOptions, RendererService

_CONFIG = flags.DEFINE_string("config", "configs/renderer.py", "Renderer config file.")
_PRESETS = flags.DEFINE_list("presets", ["synthetic"], "Config presets to measure.")
_MEASURE = flags.DEFINE_list("measure", ["forward", "train", "render"], "What to measure.")
_BATCH = flags.DEFINE_integer("batch", 8, "Batch (frames) for training and batched rendering.")
_REPEATS = flags.DEFINE_integer("repeats", 3, "Timed repetitions (after one warm-up).")
_DTYPE = flags.DEFINE_enum("dtype", "float32", ["float32", "bfloat16"], "Compute dtype of forward and train.")
_SAMPLERS = flags.DEFINE_list("samplers", ["ddim:20"], "sampler:steps to render with (the release's DDIM 20 by "
                              "default, whatever the preset samples with, so rows compare).")
_RENDER_BATCHES = flags.DEFINE_list("render_batches", ["8", "1"], "Frames per rendered batch.")
_DTYPES = flags.DEFINE_list("dtypes", ["float32"], "Compute dtypes to render with.")
_IMAGE_SIZE = flags.DEFINE_integer("image_size", None, "Every preset at this data.image_size instead of its own "
                                   "(e.g. 32 with --patch_size=1: the demo's renderer before it drew 64 px in "
                                   "patches).")
_PATCH_SIZE = flags.DEFINE_integer("patch_size", None, "Every preset at this model.patch_size instead of its own.")


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


def peak_flops(repeats: int, dtype: str = "float32") -> float:
    """FLOP/s of a 4096^2 matmul in dtype on the default device."""
    a = jax.random.normal(jax.random.key(0), (4096, 4096), dtype)
    matmul = jax.jit(lambda x: x @ x)
    return 2 * 4096**3 / timed(matmul, a, repeats=repeats, label=f"{dtype} matmul peak")


def flops_of(function, *args) -> float:
    """FLOPs of function(*args) from XLA's cost analysis of the program lowered for the CPU: on GPUs
    the lowered program has no analysis and the compiled one leaves out the cuDNN convolutions."""
    cpu_args = jax.device_put(args, jax.devices("cpu")[0])
    analysis = jax.jit(function).lower(*cpu_args).cost_analysis()
    analysis = analysis[0] if isinstance(analysis, (list, tuple)) else analysis
    return float((analysis or {}).get("flops", float("nan")))


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


def preset_config(preset: str):
    """--config's file at this preset, as `--config=FILE:PRESET` reads it (at --image_size and
    --patch_size if given)."""
    config = ConfigFileFlagParser("config", lock_config=False).parse(f"{_CONFIG.value}:{preset}")
    config.data.image_size = _IMAGE_SIZE.value or config.data.image_size
    config.model.patch_size = _PATCH_SIZE.value or config.model.patch_size
    return config


def unet_forward(model: Renderer):
    """One denoising call of the UNet at t = 500 with zero z_sem: what the FLOP count and the
    forward time measure."""
    def forward(params, batch):
        frames = batch["image"].shape[0]
        return model.apply({"params": params}, batch["image"], batch["reference"], jnp.full((frames,), 500),
                           jnp.zeros((frames, model.unet.embed_channels)), method=Renderer.denoise)
    return forward


def measure(preset: str, peak: float) -> dict:
    config = preset_config(preset)
    config.model.compute_dtype = _DTYPE.value
    size = config.data.image_size
    model = renderer_from_config(config)
    params = jax.jit(lambda key: init_variables(model, key))(jax.random.key(0))["params"]
    schedule = Schedule.from_config(config.diffusion)
    row = {"preset": preset, "size": size, "patch": config.model.patch_size}
    repeats = _REPEATS.value

    one = batch_of(size, 1, config.data.num_references)
    flops = flops_of(unet_forward(model), params, one)  # lowering only: cheap
    row["forward_gflop"] = flops / 1e9
    if "forward" in _MEASURE.value:
        seconds = timed(jax.jit(unet_forward(model)), params, one, repeats=repeats, label=f"{preset} forward")
        row.update(forward_s=seconds, forward_peak_fraction=flops / seconds / peak)

    if "train" in _MEASURE.value:  # imported here: the render table runs without the data libraries
        from diffdub_jax.training import renderer as renderer_training  # pylint: disable=import-outside-toplevel
        from diffdub_jax.training.state import create_state, make_optimizer  # pylint: disable=import-outside-toplevel
        optimizer = make_optimizer(config.train)
        state = create_state(params, optimizer)
        step = jax.jit(functools.partial(renderer_training.train_step, model=model, schedule=schedule,
                                         optimizer=optimizer, ema_decay=0.999))
        batch = batch_of(size, _BATCH.value, config.data.num_references)
        key = jax.random.key(1)
        seconds = timed(lambda s: step(s, batch, key)[1]["loss"], state, repeats=repeats, label=f"{preset} train")
        row["train_images_per_s"] = _BATCH.value / seconds

    row["peak_memory_gib"] = peak_memory_gib()
    return row


def with_zero_layers_redrawn(params, seed: int = 0):
    """Random parameters where the zero-initialised layers (each res-block's last conv, attention
    projections, the output conv) get LeCun-normal values: at init the UNet outputs zeros."""
    leaves, tree = jax.tree_util.tree_flatten(params)
    keys = jax.random.split(jax.random.key(seed), len(leaves))
    return jax.tree_util.tree_unflatten(tree, [
        jax.random.normal(k, x.shape) / np.sqrt(np.prod(x.shape[:-1])) if x.ndim > 1 and not np.any(x) else x
        for k, x in zip(keys, leaves)])


def render_rows(preset: str, peaks: dict[str, float]):
    """Yields one row per dtype x batch x sampler:steps (see the module docstring)."""
    config = preset_config(preset)
    size, references, width = config.data.image_size, config.data.num_references, config.model.embed_channels
    model = renderer_from_config(config)
    params = with_zero_layers_redrawn(jax.jit(lambda key: init_variables(model, key))(jax.random.key(0))["params"])
    unet_flops = flops_of(unet_forward(model), params, batch_of(size, 1, references))
    renders = {}  # (batch, sampler) -> dtype -> frames
    for batch in map(int, _RENDER_BATCHES.value):
        frames = batch_of(size, batch, references)
        z_sem = np.random.default_rng(1).normal(size=(batch, width)).astype(np.float32)
        for dtype in _DTYPES.value:
            for run in _SAMPLERS.value:
                sampler, steps = run.split(":")
                options = RenderOptions(dtype, sampler, int(steps))
                service = RendererService(options.applied_to(config), params, batch_size=batch)
                x_T = service.noise(2)
                rendered = {}

                def render():
                    rendered["frames"] = service.render(frames["image"], frames["reference"], frames["edit_mask"],
                                                        x_T, z_sem=z_sem)
                    return rendered["frames"]

                seconds = timed(render, repeats=_REPEATS.value, label=f"{preset} {dtype} batch {batch} {run}")
                row = {"preset": preset, "dtype": dtype, "batch": batch, "sampler": run, "frames_per_s": batch / seconds,
                       "unet_peak_fraction": batch * int(steps) * unet_flops / seconds / peaks[dtype]}
                same_frames = renders.setdefault((batch, run), {})
                same_frames[dtype] = rendered["frames"]
                if len(same_frames) == 2:  # on the row of whichever of the two dtypes came second
                    difference = same_frames["bfloat16"] - same_frames["float32"]
                    row["bf16_vs_f32_max_abs"] = float(np.abs(difference).max())
                    row["bf16_vs_f32_psnr"] = float(10 * np.log10(4.0 / max(np.mean(difference**2), 1e-20)))
                yield row


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)  # the table, not the libraries' INFO lines
    peaks = {dtype: peak_flops(_REPEATS.value, dtype) for dtype in dict.fromkeys(["float32", *_DTYPES.value])}
    peak = peaks["float32"]
    print(f"device: {jax.devices()[0].device_kind}; matmul peak (GFLOP/s) "
          + ", ".join(f"{dtype} {flops / 1e9:.0f}" for dtype, flops in peaks.items())
          + f"; forward and train in {_DTYPE.value}, batch {_BATCH.value}", flush=True)
    if {"forward", "train"} & set(_MEASURE.value):
        print_table(["preset", "size", "patch", "forward_s", "forward_gflop", "forward_peak_fraction",
                     "train_images_per_s", "peak_memory_gib"], (measure(preset, peak) for preset in _PRESETS.value))
    if "render" in _MEASURE.value:
        print_table(["preset", "dtype", "batch", "sampler", "frames_per_s", "unet_peak_fraction", "bf16_vs_f32_max_abs",
                     "bf16_vs_f32_psnr"], (row for preset in _PRESETS.value for row in render_rows(preset, peaks)))
        print(f"peak memory {peak_memory_gib():.2f} GiB", flush=True)


def print_table(columns: list[str], rows) -> None:
    """A Markdown table, each row printed as soon as it is measured (big presets take minutes)."""
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns), flush=True)
    for row in rows:
        cells = [f"{row[c]:.3g}" if isinstance(row.get(c), float) else str(row.get(c, "-")) for c in columns]
        print("| " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    app.run(main)
