"""Starts the dubbing web page.

    python -m diffdub_jax.app [--renderer_workdir=R --motion_workdir=M] [--host=0.0.0.0] [--port=7860]

Without workdirs it serves the demo's (demo_out/renderer, demo_out/motion) when `make demo` wrote
them. infer's model flags apply (--hubert_dir, --compute_dtype, --sampler, ...), so the release's
converted weights serve as well; the page's options start from infer's defaults.
"""

import os

from absl import flags

from diffdub_jax import cli, dub_flags
from diffdub_jax.errors import MissingFileError
from diffdub_jax.web_app import build_app

_HOST = flags.DEFINE_string("host", "127.0.0.1", "Interface to listen on (0.0.0.0: every one).")
_PORT = flags.DEFINE_integer("port", 7860, "Port.")
DEMO = ("demo_out/renderer", "demo_out/motion")


def main(argv):
    del argv
    renderer, motion = flags.FLAGS.renderer_workdir, flags.FLAGS.motion_workdir
    if not (renderer and motion):
        if not all(os.path.isdir(os.path.join(path, "checkpoints")) for path in DEMO):
            raise MissingFileError("no models to serve: pass --renderer_workdir=DIR --motion_workdir=DIR (yours, or "
                                   "converted release weights), or run `make demo` first to serve its demo_out/")
        renderer, motion = renderer or DEMO[0], motion or DEMO[1]
    options = dub_flags.dub_options()
    prepared = options.pop("prepared_videos")
    options = {key: options[key] for key in ("face_index", "seed", "crop_scale")}  # the rest: the page's
    page = build_app(dub_flags.model_spec(renderer, motion).load(), prepared, **options)
    page.launch(server_name=_HOST.value, server_port=_PORT.value, ssr_mode=False)


if __name__ == "__main__":
    cli.run(main)
