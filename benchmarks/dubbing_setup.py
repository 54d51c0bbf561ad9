"""What the dubbing benchmarks share: their folder and the two stages they dub with."""

from __future__ import annotations

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "tests"))  # fixtures: clips, stages


def workdir_and_stages(workdir: str, renderer: str | None, motion: str | None) -> tuple[pathlib.Path, str, str]:
    """workdir (made), and the given stage workdirs, or tiny random-weight ones written under it
    (tests/renderer_fixtures.py: the pipeline's speed around the models, not what they learned)."""
    from renderer_fixtures import random_stages  # pylint: disable=import-outside-toplevel

    root = pathlib.Path(workdir)
    root.mkdir(parents=True, exist_ok=True)
    if not (renderer and motion):
        renderer, motion = random_stages(root)
    return root, renderer, motion
