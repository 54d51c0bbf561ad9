"""The paper's table for dubbed videos: PSNR, SSIM, LPIPS, LMD, LSE-D, LSE-C (and FID) against references.

    python -m diffdub_jax.score --generated=dubs/ --reference=originals/ --output=metrics.json \
        [--lpips_backbone=checkpoints/alexnet-owt-7be5be79.pth] [--syncnet=checkpoints/syncnet_v2.model] \
        [--fid_inception=checkpoints/pt_inception-2015-12-05-6726825d.pth]

Videos pair by file name (or pass two files). PSNR, SSIM (full frame, face crop, edit region) and
LMD always run; LPIPS, LSE-D / LSE-C and FID run when their weights are given (never downloaded):
- LPIPS (AlexNet, v0.1): torchvision's https://download.pytorch.org/models/alexnet-owt-7be5be79.pth
  (--lpips_net=vgg: vgg16-397923af.pth); the linear heads ship with the `lpips` package.
- SyncNet: syncnet_python's http://www.robots.ox.ac.uk/~vgg/software/lipsync/data/syncnet_v2.model
  (LSE of each generated video against its own audio track, or --audio, a file or a folder).
- FID (pytorch-fid's Inception): https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/
  pt_inception-2015-12-05-6726825d.pth; one distance over every frame's face crop of all the
  generated videos against all the references (in the mean row only).
Prints a per-clip table with the mean and writes all of it as JSON.
"""

from absl import flags

from diffdub_jax import cli
from diffdub_jax.evaluation import score

_GENERATED = flags.DEFINE_string("generated", None, "A generated video, or a folder of them.", required=True)
_REFERENCE = flags.DEFINE_string("reference", None, "Its reference video, or a folder (same names).", required=True)
_OUTPUT = flags.DEFINE_string("output", "metrics.json", "Where the scores go (JSON).")
_AUDIO = flags.DEFINE_string("audio", None, "Audio the videos are synced to (file, or folder of same names); "
                             "default: each generated video's own track.")
_LPIPS_BACKBONE = flags.DEFINE_string("lpips_backbone", None, "torchvision AlexNet (or VGG16) weights file.")
_LPIPS_NET = flags.DEFINE_enum("lpips_net", "alex", ["alex", "vgg"], "LPIPS backbone.")
_SYNCNET = flags.DEFINE_string("syncnet", None, "SyncNet syncnet_v2.model weights file.")
_FID_INCEPTION = flags.DEFINE_string("fid_inception", None, "pytorch-fid's pt_inception-2015-12-05-6726825d.pth.")


def main(argv):
    del argv
    scores = score.run(_GENERATED.value, _REFERENCE.value, _OUTPUT.value, audio_path=_AUDIO.value,
                       lpips_backbone=_LPIPS_BACKBONE.value, lpips_net=_LPIPS_NET.value, syncnet=_SYNCNET.value,
                       fid_inception=_FID_INCEPTION.value)
    print(score.table(scores))
    print(f"wrote {_OUTPUT.value}")


if __name__ == "__main__":
    cli.run(main)
