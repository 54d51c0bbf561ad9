"""Evaluates trained stages on held-out data.

    python -m diffdub_jax.evaluate --config=configs/renderer.py:synthetic --workdir=runs/renderer
    python -m diffdub_jax.evaluate --config=configs/motion.py:synthetic --workdir=runs/motion \
        --config.data.latents_dir=runs/latents [--renderer_workdir=runs/renderer] [--evals=motion_lipsync]
        one stage: the evaluators its config declares (config.evals; see evaluation.evaluators),
        all that serve its dataset, or those --evals names (refused with one line if they cannot
        serve it); each writes to WORKDIR/eval/NAME (or --output/NAME). Stage 2's render with
        the renderer its latents come from, or --renderer_workdir.
    python -m diffdub_jax.evaluate --config=configs/renderer.py --workdir=runs/renderer \
        --motion_workdir=runs/motion --split=test --output=runs/eval_test \
        [--lpips_backbone=alexnet-owt-7be5be79.pth --syncnet=syncnet_v2.model
         --fid_inception=pt_inception-2015-12-05-6726825d.pth]
        both stages, the paper's table: every clip of the renderer's dataset split dubbed with its
        own audio (reconstruction) and another clip's (cross-audio), scored by `score`
        (output/metrics.json; FID over all of a setting's frames); resumable.
"""

import json
import os

from absl import flags
from ml_collections import config_flags

from diffdub_jax import cli
from diffdub_jax.evaluation import dubbing, evaluators, score
from diffdub_jax.inference.models import DubbingModels
from diffdub_jax.workdir import Workdir

_CONFIG = config_flags.DEFINE_config_file("config", None, "Stage config file[:preset].")
_WORKDIR = flags.DEFINE_string("workdir", None, "Run directory with checkpoints.")
_SPLIT = flags.DEFINE_string("split", None, "Dataset split (default: each evaluator's, 'test').")
_EVALS = flags.DEFINE_list("evals", None, "One stage: the config.evals to run (default: all that serve the dataset).")
_RENDERER = flags.DEFINE_string("renderer_workdir", None,
                                "Stage 2: the renderer that draws its latents (default: the latents store's).")
_MOTION = flags.DEFINE_string("motion_workdir", None, "Both stages: the stage-2 workdir (with a renderer config).")
_OUTPUT = flags.DEFINE_string("output", None,
                              "Where results go (default: WORKDIR/eval for one stage, eval_dubbing for both).")
_MAX_CLIPS = flags.DEFINE_integer("max_clips", None, "Both stages: dub only the first N clips of the split.")
_SEED = flags.DEFINE_integer("seed", 0, "Both stages: fixes the cross-audio pairs and the renders' start noise.")
_MAX_FRAMES = flags.DEFINE_integer("max_frames", None, "Both stages: cut each clip to N frames (a quick look).")
_HUBERT = flags.DEFINE_string("hubert_dir", None, "Both stages: the HuBERT folder (default: the motion config's).")
_LPIPS_BACKBONE = flags.DEFINE_string("lpips_backbone", None, "Both stages: torchvision AlexNet/VGG16 weights.")
_LPIPS_NET = flags.DEFINE_enum("lpips_net", "alex", ["alex", "vgg"], "LPIPS backbone.")
_SYNCNET = flags.DEFINE_string("syncnet", None, "Both stages: SyncNet syncnet_v2.model weights.")
_SETTINGS = flags.DEFINE_list("settings", list(dubbing.SETTINGS),
                              "Both stages: which settings to dub and score (reconstruction, cross_audio).")
_FID_INCEPTION = flags.DEFINE_string("fid_inception", None,
                                     "Both stages: pytorch-fid's pt_inception-2015-12-05-6726825d.pth.")
flags.mark_flags_as_required(["config", "workdir"])


def evaluate_both_stages(config) -> None:
    """The paper's table: `evaluation.dubbing` over the renderer's dataset split."""
    scorer = score.make_scorer(_LPIPS_BACKBONE.value, _LPIPS_NET.value, _SYNCNET.value, _FID_INCEPTION.value)
    result = dubbing.evaluate_dubbing(
        DubbingModels.load(_WORKDIR.value, _MOTION.value, hubert_dir=_HUBERT.value), _OUTPUT.value or "eval_dubbing",
        dataset=config.data.name, data_dir=config.data.data_dir, split=_SPLIT.value or "test", seed=_SEED.value,
        max_clips=_MAX_CLIPS.value, max_frames=_MAX_FRAMES.value, settings=_SETTINGS.value, scorer=scorer)
    for setting in _SETTINGS.value:
        print(f"## {setting}\n{score.table(result[setting])}\n")


def evaluate_stage(config) -> None:
    """The evaluators of config.evals on the workdir's latest (EMA) variables."""
    config = config.copy_and_resolve_references()
    names = evaluators.servable(config) if _EVALS.value is None else _EVALS.value  # named ones may be refused
    for name in names:
        if name in config.get("evals", {}):
            if _SPLIT.value:
                config.evals[name].split = _SPLIT.value
            if _RENDERER.value and "renderer_workdir" in config.evals[name]:
                config.evals[name].renderer_workdir = _RENDERER.value
    chosen = evaluators.build(config, names)
    variables = Workdir(_WORKDIR.value).restore_variables()
    output = _OUTPUT.value or os.path.join(_WORKDIR.value, "eval")
    results = {evaluator.name: evaluator.run(variables, os.path.join(output, evaluator.name)) for evaluator in chosen}
    print(json.dumps(results, indent=2))


def main(argv):
    del argv
    if _MOTION.value:
        evaluate_both_stages(_CONFIG.value)
    else:
        evaluate_stage(_CONFIG.value)


if __name__ == "__main__":
    cli.run(main)
