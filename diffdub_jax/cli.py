"""What every command line shares: quiet library logs and a persistent compilation cache.

Orbax, JAX and TFDS log through absl and Python logging at INFO, which absl shows by default
(dozens of lines per checkpoint read). Our commands start at WARNING; `--verbosity=0` (INFO) or
`-v 1` brings them back.

A `UserError` (errors.py) is printed as one line, `command: message`, and exits 1; any other
exception keeps its traceback.

XLA compiles every jitted program on first use: the 256 px render takes minutes on a CPU and
about as long as a clip's rendering on a GPU. Compiled programs are kept on disk
(--compilation_cache_dir, by default under the user's cache home), so a second run of the same
models starts at once.
"""

from __future__ import annotations

import os
import sys
from typing import Callable

import jax
from absl import app, flags, logging

from diffdub_jax.errors import UserError


def default_cache_dir() -> str:
    """$JAX_COMPILATION_CACHE_DIR if set, else $XDG_CACHE_HOME (or ~/.cache)/diffdub_jax/xla."""
    if os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        return os.environ["JAX_COMPILATION_CACHE_DIR"]
    cache_home = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache_home, "diffdub_jax", "xla")


MIN_CACHED_COMPILE_SECONDS = 0.2

_CACHE_DIR = flags.DEFINE_string("compilation_cache_dir", default_cache_dir(),
                                 "Where compiled XLA programs are kept between runs ('' disables the cache).")


def run(main: Callable[[list[str]], None]) -> None:
    """absl's app.run, with logging at WARNING unless --verbosity was given, the compilation
    cache on, and a UserError printed as one line."""
    def configured_main(argv: list[str]) -> None:
        if not flags.FLAGS["verbosity"].present:
            logging.set_verbosity(logging.WARNING)
        if _CACHE_DIR.value:
            jax.config.update("jax_compilation_cache_dir", _CACHE_DIR.value)
            # JAX keeps programs that took over 1 s to compile; stage 2's (~0.9 s on 2 cores) and
            # the encoder's (~0.6 s) count too, so a second run compiles nothing of its own
            if "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS" not in os.environ:
                jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_CACHED_COMPILE_SECONDS)
        try:
            main(argv)
        except UserError as error:
            sys.exit(f"{_command_name()}: {error}")

    app.run(configured_main)


def _command_name() -> str:
    """'train' for `python -m diffdub_jax.train`, 'convert' for the convert package."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    if spec is None:  # python path/to/script.py
        return os.path.basename(sys.argv[0]).removesuffix(".py")
    return spec.name.removesuffix(".__main__").split(".")[-1]
