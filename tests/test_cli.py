"""`cli.run`: a UserError ends a command with one line, `command: message`; anything else keeps its traceback."""

import pathlib
import subprocess
import sys

import pytest

SCRIPT = """
from diffdub_jax import cli
from diffdub_jax.errors import MissingFileError


def main(argv):
    del argv
    raise {error}


cli.run(main)
"""


def _run(*command: str, cwd: pathlib.Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *command], capture_output=True, text=True, check=False, timeout=120,
                          cwd=cwd)


@pytest.mark.parametrize("command, missing", [
    (("-m", "diffdub_jax.infer", "--video={tmp}/talk.mp4", "--output={tmp}/dubbed.mp4",
      "--renderer_workdir={tmp}/no_renderer", "--motion_workdir={tmp}/no_motion"), "{tmp}/no_renderer"),
    (("-m", "diffdub_jax.score", "--generated={tmp}/no_dubs", "--reference={tmp}", "--output={tmp}/m.json"),
     "{tmp}/no_dubs"),
    (("-m", "diffdub_jax.extract_audio_features", "--output={tmp}/features"), "--config"),
])
def test_a_command_names_what_is_missing_in_one_line(tmp_path, command, missing):
    done = _run(*(part.format(tmp=tmp_path) for part in command))
    name = command[1].rsplit(".", 1)[-1]
    last = done.stderr.strip().splitlines()[-1]
    assert done.returncode == 1, done.stderr
    assert last.startswith(f"{name}: ") and missing.format(tmp=tmp_path) in last, done.stderr
    assert "Traceback" not in done.stderr, done.stderr


def test_a_user_error_is_exactly_one_line(tmp_path):
    (tmp_path / "fails.py").write_text(SCRIPT.format(error='MissingFileError("weights.pth: no such file")'))
    done = _run("-m", "fails", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.splitlines() == ["fails: weights.pth: no such file"], done.stderr


def test_any_other_error_keeps_its_traceback(tmp_path):
    (tmp_path / "bug.py").write_text(SCRIPT.format(error='RuntimeError("an invariant broke")'))
    done = _run("-m", "bug", cwd=tmp_path)
    assert done.returncode != 0
    assert "Traceback" in done.stderr and "RuntimeError: an invariant broke" in done.stderr, done.stderr
