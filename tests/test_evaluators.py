"""Evaluators declared in the config: refused at start-up where they cannot run, logged and kept
when the loop runs them."""

import json
import subprocess
import sys

import jax.numpy as jnp
import pytest

from conftest import load_config, tensorboard_scalars
from diffdub_jax.errors import InvalidInputError
from diffdub_jax.evaluation import evaluators
from diffdub_jax.training import loop
from diffdub_jax.training.state import TrainState
from diffdub_jax.workdir import Workdir


def test_an_evaluator_a_dataset_cannot_serve_is_refused_in_one_line():
    motion = load_config("motion", "real")  # HDTF
    assert evaluators.servable(motion) == ["dubbing"]
    with pytest.raises(InvalidInputError, match="motion_lipsync evaluator runs on the synthetic set.*not hdtf"):
        evaluators.check(motion, ["motion_lipsync"])
    assert evaluators.check(motion, only_scheduled=True) == ["dubbing"]  # motion_lipsync: every 0
    motion.evals.motion_lipsync.every = 5
    with pytest.raises(InvalidInputError, match="evals.motion_lipsync"):
        evaluators.check(motion, only_scheduled=True)
    renderer = load_config("renderer", "real")
    with pytest.raises(InvalidInputError, match="scores the motion stage"):
        evaluators.check(_with_eval(renderer, "dubbing"), ["extra"])
    with pytest.raises(InvalidInputError, match="unknown type"):
        evaluators.check(_with_eval(renderer, "psnr"), ["extra"])
    with pytest.raises(InvalidInputError, match="no evaluator 'fid'"):
        evaluators.check(renderer, ["fid"])


def _with_eval(config, kind):
    config = config.copy_and_resolve_references()
    config.evals.extra = {"type": kind, "every": 1, "split": "test"}
    return config


def test_train_refuses_it_before_the_first_step(tmp_path):
    """As typed: one line naming the evaluator and the dataset, exit 1, nothing written."""
    workdir = tmp_path / "motion"
    result = subprocess.run([sys.executable, "-m", "diffdub_jax.train", "--config=configs/motion.py",
                             f"--workdir={workdir}", "--config.evals.motion_lipsync.every=10"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert result.stderr.strip().splitlines()[-1].startswith("train: evals.motion_lipsync: a motion_lipsync")
    assert not workdir.exists()


class _FakeEvaluator:
    """Writes a picture and a subfolder, returns nested scores."""

    def __init__(self, name, every):
        self.name, self.every, self.seen = name, every, []

    def run(self, variables, output_dir):
        self.seen.append(variables)
        (Workdir(output_dir).path / "scores.json").write_text("{}")
        (Workdir(output_dir).path / "videos").mkdir()
        return {"psnr": 30.5, "mode": {"r": 0.9}, "split": "test", "ok": True}


def test_the_loop_logs_scores_and_keeps_the_evaluators_files(tmp_path):
    state = TrainState(step=jnp.zeros((), jnp.int32), params={"w": jnp.ones(2)}, ema_params={"w": jnp.zeros(2)},
                       opt_state=(), batch_stats={})
    evaluator = _FakeEvaluator("recon", 2)
    writer = loop.SummaryWriter(str(tmp_path / "tb"))
    loop.run_evaluators([evaluator], state, 4, Workdir(tmp_path), writer)
    writer.close()
    assert float(evaluator.seen[0]["params"]["w"][0]) == 0.0  # the EMA parameters
    kept = tmp_path / "evals" / "recon" / "step_00000004"
    assert json.loads((kept / "scores.json").read_text()) == {} and not (kept / "videos").exists()
    events, = (tmp_path / "tb").glob("events.out.tfevents.*")
    assert sorted(tensorboard_scalars(events.read_bytes())) == [(4, "eval/recon/mode/r", pytest.approx(0.9)),
                                                                (4, "eval/recon/psnr", 30.5)]
