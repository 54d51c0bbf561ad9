"""The main job on the embedded default (what `make demo` runs), one step after another:
dataset -> stage 1 -> latents -> stage 2 -> a dubbed held-out clip with its lip-sync score, and
held-out clips dubbed with their own audio, scored as the paper's table scores them.

Each step reuses what an earlier run finished: the dataset is built once, training resumes from
its checkpoints (and does nothing once complete), latents already extracted are kept, and the
evaluation and the dub are redone only when their model has a newer checkpoint.
"""

from __future__ import annotations

import json
import os
import shutil
import time

import ml_collections
import numpy as np

from diffdub_jax import dub_showcase
from diffdub_jax.data import datasets
from diffdub_jax.data.files import write_json
from diffdub_jax.evaluation import dataset_report, dubbing, evaluators, mouth_strip
from diffdub_jax.inference.models import DubbingModels
from diffdub_jax.training import latents, tasks
from diffdub_jax.workdir import CheckpointMismatchError, Workdir

RECONSTRUCTION_SCORES = "held_out_reconstruction_scores.json"
MOUTH_STRIP = "mouth_strip.png"  # the first held-out reconstruction's mouths at 4x and opening curves


def score_reconstructions(renderer_dir: str, motion_dir: str, workdir: str, *, dataset: str, data_dir: str,
                          clips: int) -> dict:
    """The paper's image columns (PSNR, SSIM on frames, face crop and edit region; LMD) and the
    mouth's scores of the first `clips` held-out clips dubbed with their own audio by both
    stages, as `evaluate --split=test` scores them; written to RECONSTRUCTION_SCORES, with the
    first clip's MOUTH_STRIP. Dubs of an older checkpoint are dubbed again."""
    output_dir = os.path.join(workdir, "held_out_reconstructions")
    shutil.rmtree(output_dir, ignore_errors=True)
    result = dubbing.evaluate_dubbing(DubbingModels.load(renderer_dir, motion_dir), output_dir, dataset=dataset,
                                      data_dir=data_dir, max_clips=clips, settings=("reconstruction",))["reconstruction"]
    first = sorted(result["clips"])[0]
    test = datasets.clip_source(dataset, "test", data_dir)
    truth = next(np.asarray(test[i]["frames"]["mouth"])[:, 0] for i in range(len(test))
                 if dub_showcase.clip_name(test[i]) == first)
    mouth_strip.write_mouth_strip(os.path.join(output_dir, "reconstruction", f"{first}.mp4"),
                                  os.path.join(output_dir, "sources", f"{first}.mp4"),
                                  os.path.join(workdir, MOUTH_STRIP), truth)
    write_json(os.path.join(workdir, RECONSTRUCTION_SCORES), result)
    return result


def run_demo(workdir: str, renderer_config: ml_collections.ConfigDict, motion_config: ml_collections.ConfigDict,
             dub_pairs: int = 4) -> dict:
    """Builds the renderer config's dataset, trains stage 1, extracts latents, trains stage 2 (on
    the same dataset) and dubs held-out identities' clips with other identities' audio (`dub_pairs`
    pairs; the first is the showcase)."""
    os.makedirs(workdir, exist_ok=True)
    timings, start = {}, time.time()

    def timed(name, function, *args, **kwargs):
        tick = time.time()
        value = function(*args, **kwargs)
        timings[name] = round(time.time() - tick, 1)
        return value

    def reused_or_timed(result_file, run_dir, name, function, *args, **kwargs):
        """The JSON result a previous run wrote after run_dir's last checkpoint, or a new run."""
        path = os.path.join(workdir, result_file)
        checkpoint_dir = os.path.join(run_dir, "checkpoints")
        if os.path.isfile(path) and os.path.getmtime(path) > max(
                os.path.getmtime(os.path.join(checkpoint_dir, entry)) for entry in os.listdir(checkpoint_dir)):
            timings[name] = 0.0
            with open(path, encoding="utf-8") as handle:
                return json.load(handle)
        return timed(name, function, *args, **kwargs)

    dataset, data_dir = renderer_config.data.name, renderer_config.data.data_dir
    timed("dataset_s", datasets.prepare, dataset, data_dir)
    summary = {"dataset": timed("dataset_report_s", dataset_report.write_report, dataset, "test", data_dir, workdir)}

    renderer_dir = os.path.join(workdir, "renderer")
    timed("train_renderer_s", tasks.train, renderer_config, renderer_dir)

    def evaluate_renderer() -> dict:  # as `evaluate` does, into the demo's folder
        evaluator, = evaluators.build(renderer_config, ["reconstruction"])
        return evaluator.run(Workdir(renderer_dir).restore_variables(), workdir)

    summary["renderer_held_out_reconstruction"] = reused_or_timed(
        "reconstruction.json", renderer_dir, "evaluate_renderer_s", evaluate_renderer)

    latents_dir = os.path.join(workdir, "latents")
    motion_dir = os.path.join(workdir, "motion")
    try:
        timed("extract_latents_s", latents.extract_latents, renderer_dir, latents_dir, data_dir=data_dir)
    except CheckpointMismatchError:  # the renderer trained on since: stage 2 starts again on its latents
        shutil.rmtree(latents_dir)
        shutil.rmtree(motion_dir, ignore_errors=True)
        timed("extract_latents_s", latents.extract_latents, renderer_dir, latents_dir, data_dir=data_dir)
    config = motion_config.copy_and_resolve_references()
    config.data.name, config.data.data_dir, config.data.latents_dir = dataset, data_dir, latents_dir
    timed("train_motion_s", tasks.train, config, motion_dir)

    test = datasets.clip_source(dataset, "test", data_dir)
    summary["dub"] = reused_or_timed("lipsync.json", motion_dir, "dub_s", dub_showcase.dub_held_out_clips, test,
                                     renderer_dir, motion_dir, workdir, num_pairs=dub_pairs)
    summary["held_out_reconstruction_scores"] = reused_or_timed(
        RECONSTRUCTION_SCORES, motion_dir, "score_reconstructions_s", score_reconstructions, renderer_dir,
        motion_dir, workdir, dataset=dataset, data_dir=data_dir, clips=dub_pairs)
    summary["timings"] = {**timings, "total_s": round(time.time() - start, 1)}
    write_json(os.path.join(workdir, "summary.json"), summary)
    return summary
