"""Joining a multi-host run: jax.distributed.initialize from command-line settings.

Every process of a multi-host job runs the same program; before any JAX computation they must
meet at a coordinator so that `jax.devices()` lists the chips of all hosts. On Cloud TPU, SLURM
and Open MPI, JAX finds the coordinator, the process count and this process's index itself
(`auto`); anywhere else each machine is told them: `--coordinator_address=HOST0:PORT
--num_processes=N --process_id=I`. The settings are checked here, before anything joins, so that
a mistyped launch fails at once with a one-line message instead of waiting for peers that never
come (jax.distributed.initialize times out after five minutes).
"""

from __future__ import annotations

import sys
from typing import Callable

import jax
from absl import flags
from orbax.checkpoint import multihost

from diffdub_jax.errors import InvalidInputError

EXPLICIT_FLAGS = ("--coordinator_address", "--num_processes", "--process_id")
BARRIER_TIMEOUT_S = 3600  # the slowest host's compile of a real config, with room to spare


def check_settings(coordinator_address: str | None, num_processes: int | None,
                   process_id: int | None) -> bool:
    """Whether explicit settings were given (all three), else False (none); ValueError when only
    some are given, the address is not host:port, or process_id is outside [0, num_processes)."""
    values = (coordinator_address, num_processes, process_id)
    given = [name for name, value in zip(EXPLICIT_FLAGS, values) if value is not None]
    if not given:
        return False
    if len(given) < len(values):
        missing = [name for name in EXPLICIT_FLAGS if name not in given]
        raise InvalidInputError(f"{', '.join(given)} also needs {' and '.join(missing)} "
                                "(give all three on every machine, or only --multihost to auto-detect)")
    host, _, port = coordinator_address.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InvalidInputError(f"--coordinator_address={coordinator_address!r} is not host:port "
                                "(process 0's machine and a free port, e.g. 10.0.0.1:1234)")
    if num_processes < 1:
        raise InvalidInputError(f"--num_processes={num_processes} must be at least 1")
    if not 0 <= process_id < num_processes:
        raise InvalidInputError(f"--process_id={process_id} must be in [0, {num_processes}) "
                         f"for --num_processes={num_processes}")
    return True


def initialize_distributed(coordinator_address: str | None = None, num_processes: int | None = None,
                           process_id: int | None = None, auto: bool = False) -> bool:
    """Joins the multi-host run and returns True, or returns False for a single-process run.

    With all of coordinator_address, num_processes and process_id, joins with them (whatever
    `auto` says); with none of them and `auto`, lets JAX detect the cluster (Cloud TPU, SLURM,
    Open MPI...); with none and not `auto`, does nothing. Raises ValueError for incomplete or
    inconsistent settings, or when `auto` finds no cluster. Call it before any JAX computation.
    """
    if check_settings(coordinator_address, num_processes, process_id):
        jax.distributed.initialize(coordinator_address=coordinator_address,
                                   num_processes=num_processes, process_id=process_id)
        return True
    if not auto:
        return False
    try:
        jax.distributed.initialize()
    except ValueError as error:  # nothing detected: "coordinator_address should be defined."
        raise InvalidInputError(f"--multihost found no cluster to join ({error}); outside Cloud TPU, SLURM "
                                "and Open MPI give --coordinator_address, --num_processes and --process_id "
                                "on every machine") from error
    return True


def wait_for_all_processes(name: str, timeout_s: int = BARRIER_TIMEOUT_S) -> None:
    """Returns once every process has called it with this name (a no-op in a single process).
    A barrier of the coordinator, not a collective: it needs no device communicator set up, and
    it waits up to timeout_s, where collectives give up on a late peer much sooner."""
    multihost.get_barrier_sync_fn()(key=name, timeout_ms=timeout_s * 1000)


def define_flags() -> Callable[[], bool]:
    """Defines a command's multi-host flags (--multihost, --coordinator_address, --num_processes,
    --process_id) and returns join(): initialize_distributed from them, printing every process's
    place once it has joined; True in a multi-process run. Call it at the command's import."""
    multihost_flag = flags.DEFINE_bool("multihost", False, "Join a multi-host run that JAX detects itself: "
                                       "Cloud TPU pods, SLURM, Open MPI (jax.distributed.initialize()).")
    address = flags.DEFINE_string("coordinator_address", None, "Multi-host anywhere else: HOST:PORT of "
                                  "process 0, the same on every machine.")
    processes = flags.DEFINE_integer("num_processes", None, "Multi-host: how many processes join.")
    process_id = flags.DEFINE_integer("process_id", None, "Multi-host: this process's index, 0 to "
                                      "num_processes - 1.")

    def join() -> bool:
        joined = initialize_distributed(address.value, processes.value, process_id.value, auto=multihost_flag.value)
        if joined:
            report_processes()
        return joined

    return join


def describe_processes() -> str:
    """This process's place in the run, e.g. 'process 0/2: 4 local devices, 8 global, cpu'."""
    return (f"process {jax.process_index()}/{jax.process_count()}: "
            f"{jax.local_device_count()} local devices, {jax.device_count()} global, "
            f"{jax.default_backend()}")


def report_processes() -> None:
    """Prints `describe_processes()` to stderr on every process (library logs are at WARNING and
    only process 0 logs training, so this is the one line that shows every host joined)."""
    print(describe_processes(), file=sys.stderr, flush=True)
