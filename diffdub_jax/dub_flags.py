"""The flags every dubbing command shares (`infer`, `dub_batch`): the models, how they render,
and the per-dub options, defined once so the commands cannot drift apart."""

from __future__ import annotations

from absl import flags

from diffdub_jax.data.video import SCHEDULE_MODES
from diffdub_jax.diffusion.ddim import SAMPLERS
from diffdub_jax.inference.models import DubbingModels, ModelSpec
from diffdub_jax.inference.prepared import DEFAULT_MAX_BYTES, PreparedVideos, default_cache_dir
from diffdub_jax.serving.motion_service import REFERENCE_MODES
from diffdub_jax.serving.renderer_service import COMPUTE_DTYPES, RenderOptions

_RENDERER = flags.DEFINE_string("renderer_workdir", None, "Stage-1 workdir (ours or converted official).")
_MOTION = flags.DEFINE_string("motion_workdir", None, "Stage-2 workdir (ours or converted official).")
_MODE = flags.DEFINE_enum("mode", "few_shot", REFERENCE_MODES,
                          "Stage 2's references: 3 s of frames from the reference frame on, or that frame alone.")
_REFERENCE = flags.DEFINE_string("reference", "auto", "Reference frame: auto (frontal, mouth closed), first (the "
                                 "first frame with a face, as the release) or a frame index.")
_EXTEND = flags.DEFINE_enum("extend", "pingpong", SCHEDULE_MODES, "How the video follows longer audio.")
_FACE = flags.DEFINE_integer("face_index", 0, "Which face to dub, by size (0 = largest).")
_BATCH = flags.DEFINE_integer("batch_size", 16, "Frames rendered per batch.")
_CROP_SCALE = flags.DEFINE_float("crop_scale", None, "Crop side / face box size; default: the framing the renderer "
                                  "was trained with (saved in its checkpoint; 1.6 for the release's).")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the shared DDIM start noise.")
_HUBERT = flags.DEFINE_string("hubert_dir", None, "HuBERT folder (config.json + weights) for a motion model on HuBERT "
                              "features; default: the one its checkpoint names (checkpoints/chinese-hubert-large, "
                              "from the current directory).")
_DTYPE = flags.DEFINE_enum("compute_dtype", None, COMPUTE_DTYPES, "The renderer's compute dtype (default: the "
                           "checkpoint's, float32); bfloat16 about halves the render time on GPUs and TPUs.")
_SAMPLER = flags.DEFINE_enum("sampler", None, sorted(SAMPLERS), "Sampler (default: the checkpoint's; the release's "
                             "ddim for converted weights).")
_STEPS = flags.DEFINE_integer("sample_steps", None, "Sampler steps (default: the checkpoint's; 20 for the release).",
                              lower_bound=1)
_PREPARED_DIR = flags.DEFINE_string("prepared_videos_dir", default_cache_dir(),
                                    "Where each video's preparation (frames, face track, crops, reference codes) is "
                                    "kept for its next dub ('' keeps nothing).")
_PREPARED_GB = flags.DEFINE_float("prepared_videos_max_gb", DEFAULT_MAX_BYTES / 2**30,
                                  "Size bound of --prepared_videos_dir; least recently used entries go first.")


def model_spec(renderer_workdir: str | None = None, motion_workdir: str | None = None) -> ModelSpec:
    """Both stages as the flags name them (or as given: the app's defaults)."""
    return ModelSpec(renderer_workdir or _RENDERER.value, motion_workdir or _MOTION.value, _BATCH.value, _HUBERT.value,
                     RenderOptions(_DTYPE.value, _SAMPLER.value, _STEPS.value))


def load_models() -> DubbingModels:
    """Both stages as the flags name them (checked at once; weights load on first use)."""
    return model_spec().load()


def dub_options() -> dict:
    """`inference.dub.dub`'s keyword options as the flags set them."""
    prepared = (PreparedVideos(_PREPARED_DIR.value, int(_PREPARED_GB.value * 2**30)) if _PREPARED_DIR.value
                else None)
    return {"mode": _MODE.value, "reference": _REFERENCE.value, "extend": _EXTEND.value, "face_index": _FACE.value,
            "seed": _SEED.value, "crop_scale": _CROP_SCALE.value, "prepared_videos": prepared}
