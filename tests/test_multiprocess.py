"""Two processes train as two pod hosts would (jax.distributed on localhost, CPU collectives, 4
devices each): the same parameters as one process on 8 devices fed the same global batches, each
host its own records, and both killed at a checkpoint resume to the same parameters, with the
workdir and the dataset in a gs:// bucket (a local Cloud Storage emulator)."""

import json
import os
import socket
import subprocess
import sys

import fsspec
import numpy as np
import pytest
from etils import epath

from diffdub_jax.workdir import Workdir
from gcs_emulator import gcs_bucket  # noqa: F401  (a pytest fixture)

pytestmark = pytest.mark.slow  # trains in several processes: `make test-all`

TESTS = os.path.dirname(os.path.abspath(__file__))
STEPS, STOP = 4, 2
LAYOUTS = ("replicated", "fsdp")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("localhost", 0))
        return probe.getsockname()[1]


def _train(out: str, data_dir: str, workdir: str, processes: int, layouts: tuple[str, ...],
           stop_after: int | None = None) -> str:
    """Runs the processes to the end and returns out (params of each layout in <out>.<layout>.npz)."""
    devices = 8 // processes
    env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=os.pathsep.join([TESTS, os.environ.get("PYTHONPATH", "")]),
               XLA_FLAGS=f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={devices}")
    command = [sys.executable, os.path.join(TESTS, "multiprocess_train.py"), f"--num_processes={processes}",
               f"--port={_free_port()}", f"--data_dir={data_dir}", f"--workdir={workdir}", f"--out={out}",
               f"--steps={STEPS}", f"--layouts={','.join(layouts)}"] + (
               [f"--stop_after={stop_after}"] if stop_after else []) + ([] if processes > 1 else ["--shards=2"])
    workers = [subprocess.Popen(command + [f"--process_id={i}"], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for i in range(processes)]
    for i, worker in enumerate(workers):
        _, stderr = worker.communicate(timeout=900)
        first_error = max(stderr.find("Traceback"), 0)  # the cause, not the other process's shutdown noise
        assert worker.returncode == 0, f"process {i}: {stderr[first_error:first_error + 3000]}"
    return out


def _params(out: str, layout: str) -> list[np.ndarray]:
    with np.load(f"{out}.{layout}.npz") as saved:
        return [saved[key] for key in sorted(saved.files, key=lambda k: int(k.split("_")[1]))]


@pytest.fixture(scope="module")
def runs(small_data_dir, tmp_path_factory) -> dict[str, str]:
    """Output prefixes of the 2-process run and of its 1-process reference, both layouts each."""
    root = tmp_path_factory.mktemp("multiprocess")
    return {name: _train(str(root / name), small_data_dir, str(root / f"{name}_run"), processes, LAYOUTS)
            for name, processes in (("two", 2), ("one", 1))}


@pytest.mark.parametrize("layout", LAYOUTS)
def test_two_processes_train_like_one_process_on_their_global_batches(runs, layout):
    differences = np.concatenate([np.abs(a - b).ravel() for a, b in zip(
        _params(runs["two"], layout), _params(runs["one"], layout), strict=True)])
    # All-reduce sums in another order across processes: about 1e-6 apart after 4 Adam steps. Adam
    # divides by the gradient's own scale, so an element whose gradient is near zero (a bias under a
    # zero-initialised conv) can be a few 1e-5 apart; seen: one of 60 k elements at 5e-5.
    assert differences.max() <= 1e-4 and np.mean(differences > 1e-5) < 1e-3, differences.max()
    # the sampler ran in both processes during training (every 2 steps) and process 0 wrote its grids
    samples = sorted(os.listdir(f"{runs['two']}_run/{layout}/samples"))
    assert samples == ["step_00000002.png", "step_00000004.png"], samples


@pytest.mark.parametrize("layout", LAYOUTS)
def test_each_host_reads_its_own_records_and_every_record_once_per_epoch(runs, layout):
    hosts = [json.load(open(f"{runs['two']}.{layout}.records.{i}.json")) for i in range(2)]
    merged = json.load(open(f"{runs['one']}.{layout}.records.0.json"))
    assert sorted(hosts[0] + hosts[1]) == sorted(merged)  # the reference read what the hosts read
    num_records = 6  # the small set's train split
    shards = [set(range(i, num_records, 2)) for i in range(2)]
    for seen, shard in zip(hosts, shards):
        assert set(seen) == shard  # disjoint: each host only its own records
        assert sorted(seen[: len(shard)]) == sorted(shard)  # every record once per epoch


def test_both_processes_killed_resume_from_a_bucket_to_the_uninterrupted_run(runs, small_data_dir, gcs_bucket,  # noqa: F811
                                                                             tmp_path):
    """Workdir (checkpoints, TensorBoard) and dataset in gs://, killed at a checkpoint, restarted:
    the same parameters as the local run straight through."""
    data_dir, workdir = f"{gcs_bucket}/multiprocess/tfds", f"{gcs_bucket}/multiprocess/run"
    for folder, _, names in os.walk(small_data_dir):
        for name in names:
            relative = os.path.relpath(os.path.join(folder, name), small_data_dir)
            epath.Path(folder, name).copy(epath.Path(data_dir, relative))
    _train(str(tmp_path / "killed"), data_dir, workdir, 2, ("fsdp",), stop_after=STOP)
    assert Workdir(f"{workdir}/fsdp").train_checkpoints().latest_step() == STOP
    resumed = _train(str(tmp_path / "resumed"), data_dir, workdir, 2, ("fsdp",))
    for a, b in zip(_params(resumed, "fsdp"), _params(runs["two"], "fsdp"), strict=True):
        np.testing.assert_array_equal(a, b)
    # this process's gcsfs (epath's, fsspec-cached) still lists the bucket as the killed run left it
    fsspec.filesystem("gs", finalize_on_close=True).invalidate_cache()
    assert Workdir(f"{workdir}/fsdp").train_checkpoints().latest_step() == STEPS
    assert list(epath.Path(workdir, "fsdp", "tensorboard").iterdir()), "no TensorBoard events in the bucket"
