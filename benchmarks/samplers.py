"""Few-step sampling against the release's 20-step DDIM, same checkpoint, held-out frames.

    python benchmarks/samplers.py --renderer_workdir=demo_out/renderer
    python benchmarks/samplers.py --runs=ddim:10 --dtypes=float32,bfloat16   # bf16's quality delta

For each (sampler, steps) and each start-noise seed, renders the held-out evaluation's frames
(evaluation.reconstruction: random frames from their own z_sem, and the lip-sync segments) and
prints edit-region PSNR and whole-frame SSIM against the true frames, and of renders from the
frames' own z_sem: lip-sync r, articulation (the mouth opening's spread over time, rendered over
true: below 1 a damped mouth) and mouth texture (rendered over true: speckle above 1, blur below;
PSNR alone rewards blur). Rows with two seeds
give the run-to-run noise. Each run is rendered in every --dtypes compute dtype (on a CPU bfloat16
is emulated: slow, but its rounding is what accelerators do).
"""

from __future__ import annotations

import time

import numpy as np
from absl import app, flags, logging

from diffdub_jax.data import pipeline
from diffdub_jax.data.pixels import to_uint8
from diffdub_jax.evaluation.reconstruction import SegmentRenderer, evaluate_lipsync
from diffdub_jax.metrics import image
from diffdub_jax.serving.renderer_service import RendererService, RenderOptions
from diffdub_jax.workdir import Workdir

_WORKDIR = flags.DEFINE_string("renderer_workdir", "demo_out/renderer", "A trained renderer's workdir.")
_RUNS = flags.DEFINE_list("runs", ["ddim:20", "ddim:10", "ddim:5", "dpm_solver_2m:10", "dpm_solver_2m:5"],
                          "sampler:steps to measure.")
_DTYPES = flags.DEFINE_list("dtypes", ["float32"], "Compute dtypes to render each run in.")
_SEEDS = flags.DEFINE_list("seeds", ["0", "1"], "Config seeds (the start noise is seed + 2).")
_BATCHES = flags.DEFINE_integer("batches", 8, "Held-out batches rendered for PSNR and SSIM.")


def measure(config, params, options: RenderOptions, seed: int) -> dict:
    config = options.applied_to(config)
    config.seed = seed
    service = RendererService(config, params, config.data.batch_size)
    render = SegmentRenderer(service)
    stream = iter(pipeline.renderer_pipeline(config, "test", augment_crop=False))
    rendered, targets, masks = [], [], []
    tick = time.perf_counter()
    for _ in range(_BATCHES.value):
        batch = pipeline.renderer_inputs(next(stream))
        rendered.append(service.render(batch["image"], batch["reference"], batch["edit_mask"], render.x_T,
                                       encoder_crops=batch["encoder_crop"]))
        targets.append(batch["image"])
        masks.append(batch["edit_mask"])
    seconds = time.perf_counter() - tick
    rendered, targets, masks = map(np.concatenate, (rendered, targets, masks))
    lipsync = evaluate_lipsync(config, render, "test", config.eval.lipsync_clips, config.eval.lipsync_frames)
    return {"sampler": options.sampler, "steps": options.num_steps, "dtype": options.compute_dtype, "seed": seed,
            "psnr": image.masked_psnr(rendered, targets, masks),
            "ssim": float(np.mean(image.ssim(to_uint8(rendered), to_uint8(targets)))),
            "lipsync_r": lipsync["true_latents_lipsync_r"], "articulation": lipsync["true_latents_articulation"],
            "texture_ratio": lipsync["true_latents_texture_ratio"], "render_s": seconds}


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)  # the table, not the libraries' INFO lines
    workdir = Workdir(_WORKDIR.value)
    config, params = workdir.restore_config(), workdir.restore_variables()["params"]
    columns = ["sampler", "steps", "dtype", "seed", "psnr", "ssim", "lipsync_r", "articulation", "texture_ratio",
               "render_s"]
    print("| " + " | ".join(columns) + " |\n|" + "---|" * len(columns), flush=True)
    for run in _RUNS.value:
        sampler, steps = run.split(":")
        for dtype in _DTYPES.value:
            for seed in _SEEDS.value:
                row = measure(config, params, RenderOptions(dtype, sampler, int(steps)), int(seed))
                print("| " + " | ".join(f"{row[c]:.3f}" if isinstance(row[c], float) else str(row[c])
                                        for c in columns) + " |", flush=True)


if __name__ == "__main__":
    app.run(main)
