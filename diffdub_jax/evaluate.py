"""Evaluates trained stages on held-out data.

    python -m diffdub_jax.evaluate --config=configs/renderer.py:synthetic --workdir=runs/renderer
        stage 1: held-out reconstructions from their own z_sem (edit-region PSNR, lip sync).
    python -m diffdub_jax.evaluate --config=configs/motion.py:synthetic --workdir=runs/motion \
        --renderer_workdir=runs/renderer --config.data.latents_dir=runs/latents
        stage 2: held-out latent error and lip sync of renders from predicted latents.
    python -m diffdub_jax.evaluate --config=configs/renderer.py --workdir=runs/renderer \
        --motion_workdir=runs/motion --split=test --output=runs/eval_test \
        [--lpips_backbone=alexnet-owt-7be5be79.pth --syncnet=syncnet_v2.model
         --fid_inception=pt_inception-2015-12-05-6726825d.pth]
        both stages, the paper's table: every clip of the renderer's dataset split dubbed with its
        own audio (reconstruction) and another clip's (cross-audio), scored by `score`
        (output/metrics.json; FID over all of a setting's frames); resumable.
"""

import json
import sys

from absl import flags
from ml_collections import config_flags

from diffdub_jax import cli, stages
from diffdub_jax.evaluation import dubbing, score
from diffdub_jax.workdir import CheckpointMismatchError

_CONFIG = config_flags.DEFINE_config_file("config", None, "Stage config file[:preset].")
_WORKDIR = flags.DEFINE_string("workdir", None, "Run directory with checkpoints.")
_SPLIT = flags.DEFINE_string("split", "test", "Dataset split.")
_BATCHES = flags.DEFINE_integer("batches", 8, "Renderer: number of batches to render.")
_RENDERER = flags.DEFINE_string("renderer_workdir", None, "Motion: the stage-1 workdir that renders its latents.")
_CLIPS = flags.DEFINE_integer("clips", 8, "Motion: number of held-out clips.")
_MOTION = flags.DEFINE_string("motion_workdir", None, "Both stages: the stage-2 workdir (with a renderer config).")
_OUTPUT = flags.DEFINE_string("output", "eval_dubbing", "Both stages: where dubs and metrics.json go.")
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


def main(argv):
    del argv
    config = _CONFIG.value
    try:
        if _MOTION.value:
            result = dubbing.evaluate_dubbing(
                _WORKDIR.value, _MOTION.value, _OUTPUT.value, dataset=config.data.name,
                data_dir=config.data.data_dir, split=_SPLIT.value, seed=_SEED.value, max_clips=_MAX_CLIPS.value, max_frames=_MAX_FRAMES.value,
                hubert_dir=_HUBERT.value, settings=_SETTINGS.value,
                scorer=score.make_scorer(_LPIPS_BACKBONE.value, _LPIPS_NET.value, _SYNCNET.value,
                                         _FID_INCEPTION.value))
            for setting in _SETTINGS.value:
                print(f"## {setting}\n{score.table(result[setting])}\n")
            return
        options = stages.EvalOptions(split=_SPLIT.value, batches=_BATCHES.value, clips=_CLIPS.value,
                                     renderer_workdir=_RENDERER.value)
        result = stages.get(config.stage).evaluate(config, _WORKDIR.value, options)
    except (CheckpointMismatchError, FileNotFoundError, ValueError, ImportError) as error:
        sys.exit(f"evaluate: {error}")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    cli.run(main)
