"""What every command line shares: library INFO chatter off unless asked for.

Orbax, JAX and TFDS log through absl and Python logging at INFO, which absl shows by default
(dozens of lines per checkpoint read). Our commands start at WARNING; `--verbosity=0` (INFO) or
`-v 1` brings them back.
"""

from __future__ import annotations

from typing import Callable

from absl import app, flags, logging


def run(main: Callable[[list[str]], None]) -> None:
    """absl's app.run, with logging at WARNING unless --verbosity was given."""
    def quiet_main(argv: list[str]) -> None:
        if not flags.FLAGS["verbosity"].present:
            logging.set_verbosity(logging.WARNING)
        main(argv)

    app.run(quiet_main)
