"""Held-out reconstructions of stage 1: z_sem from the true frame, DDIM render, edit-region PSNR.

Two baselines frame the number: the masked input (the edit region as the renderer receives it,
zeros) and the reference frame's own pixels pasted into the edit region (what a renderer that
ignored z_sem and copied the reference would score).
"""

from __future__ import annotations

import functools
import json
import os

import jax
import ml_collections
import numpy as np
from PIL import Image

from diffdub_jax import checkpoints
from diffdub_jax.data import pipeline
from diffdub_jax.metrics.image import masked_psnr
from diffdub_jax.training import renderer_steps
from diffdub_jax.training.loop import MODEL_INPUTS, renderer_model, sample_grid, schedule_from_config


def evaluate_reconstruction(config: ml_collections.ConfigDict, workdir: str, split: str = "test",
                            num_batches: int = 8, output_dir: str | None = None) -> dict:
    """Renders num_batches held-out batches (random frames of the split's clips, fixed by the
    seed) with the EMA params of workdir; returns PSNRs and writes `reconstructions.png` and
    `reconstruction.json` to output_dir (default workdir)."""
    output_dir = output_dir or workdir
    os.makedirs(output_dir, exist_ok=True)
    model = renderer_model(config)
    params = checkpoints.restore_params(workdir)
    size = config.data.image_size
    x_T = jax.random.normal(jax.random.key(config.seed + 2), (1, size, size, 3))
    render = jax.jit(functools.partial(renderer_steps.render, model=model, schedule=schedule_from_config(config),
                                       num_steps=config.diffusion.sample_steps))
    stream = iter(pipeline.renderer_pipeline(config, split, augment_crop=False))
    rendered, targets, masks, references, first = [], [], [], [], None
    for _ in range(num_batches):
        batch = {k: v for k, v in next(stream).items() if k in MODEL_INPUTS}
        out = np.asarray(render(params, batch, x_T))
        if first is None:
            first = (batch, out)
        rendered.append(out)
        targets.append(batch["image"])
        masks.append(batch["edit_mask"])
        references.append(batch["reference"][..., :3])
    rendered, targets, masks, references = map(np.concatenate, (rendered, targets, masks, references))
    result = {
        "split": split,
        "frames": int(len(rendered)),
        "edit_region_psnr": masked_psnr(rendered, targets, masks),
        "baseline_masked_input_psnr": masked_psnr(np.zeros_like(targets), targets, masks),
        "baseline_reference_copy_psnr": masked_psnr(references, targets, masks),
        "outside_mask_identical": bool(np.array_equal(rendered[masks[..., 0] < 0.5],
                                                      targets[masks[..., 0] < 0.5])),
    }
    Image.fromarray(sample_grid(first[0], first[1])).save(os.path.join(output_dir, "reconstructions.png"))
    with open(os.path.join(output_dir, "reconstruction.json.tmp"), "w", encoding="utf-8") as handle:
        json.dump(result, handle, indent=2)
    os.replace(os.path.join(output_dir, "reconstruction.json.tmp"), os.path.join(output_dir, "reconstruction.json"))
    return result
