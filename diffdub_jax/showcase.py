"""The main job on the embedded default (what `make demo` runs), one step after another.

Each step reuses what an earlier run finished: the dataset is built once, training resumes from
its checkpoints (and does nothing once complete), so a rerun is quick.
"""

from __future__ import annotations

import json
import os
import sys
import time

from diffdub_jax.data import datasets, report
from diffdub_jax.training import loop, renderer_eval

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs"))
import renderer as renderer_config  # noqa: E402  pylint: disable=wrong-import-position


def run_demo(workdir: str, dataset: str, data_dir: str, renderer_preset: str = "synthetic",
             renderer_steps: int = 0) -> dict:
    """Builds the synthetic set, trains the stage-1 renderer and renders held-out identities.
    renderer_steps > 0 overrides the preset's number of training steps."""
    os.makedirs(workdir, exist_ok=True)
    timings, start = {}, time.time()
    datasets.prepare(dataset, data_dir)
    summary = {"dataset": report.write_report(dataset, "test", data_dir, workdir)}
    timings["dataset_s"] = time.time() - start

    config = renderer_config.get_config(renderer_preset)
    config.data.name, config.data.data_dir = dataset, data_dir
    if renderer_steps:
        config.train.num_steps = renderer_steps
    renderer_dir = os.path.join(workdir, "renderer")
    tick = time.time()
    loop.train_renderer(config, renderer_dir)
    timings["train_renderer_s"] = time.time() - tick
    tick = time.time()
    summary["renderer_held_out_reconstruction"] = renderer_eval.evaluate_reconstruction(
        config, renderer_dir, "test", output_dir=workdir)
    timings["evaluate_renderer_s"] = time.time() - tick
    summary["timings"] = {k: round(v, 1) for k, v in timings.items()}
    path = os.path.join(workdir, "summary.json")
    with open(path + ".tmp", "w", encoding="utf-8") as handle:
        json.dump(summary, handle, indent=2)
    os.replace(path + ".tmp", path)
    return summary
