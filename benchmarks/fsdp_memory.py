"""Host memory when a training state is created: FSDP against replicated, on CPU devices.

    python benchmarks/fsdp_memory.py --preset=real --devices=8 --layouts=fsdp:8,replicated:1,replicated:2

For each layout a fresh process creates the stage's training state (parameters, EMA, Adam moments)
as `train` does (loop.state_layout: jit(init, out_shardings)) on N CPU devices of one process and
reports its peak resident memory and the bytes each device holds. CPU devices share the host's
memory, so a process's peak is what a host with those devices would need: replicated, every device
holds the whole state (peak grows with the device count); FSDP, each holds 1/N of it.

Measured on the 2-core CPU machine (2026-12-01), the `real` renderer (168 M parameters; state with
EMA and Adam moments 2.51 GiB):
| layout | devices | most on one device (GiB) | peak host RSS (GiB) |
| fsdp | 8 | 0.31 | 3.77 |
| replicated | 1 | 2.51 | 3.98 |
| replicated | 2 | 2.51 | 6.74 |
| replicated | 4 | 2.51 | 11.99 |
Replicated grows by 2.6 GiB a device: 8 would need about 22.5 GiB (more than this machine has);
FSDP on 8 needs less than replicated on 1 (the rest is the process: JAX, XLA, the compiled init).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys

from absl import app, flags, logging

from config_loader import load_config

_STAGE = flags.DEFINE_string("stage", "renderer", "Stage config (configs/<stage>.py).")
_PRESET = flags.DEFINE_string("preset", "real", "Its preset.")
_LAYOUTS = flags.DEFINE_list("layouts", ["fsdp:8", "replicated:1", "replicated:2", "replicated:4"],
                             "layout:devices to measure, each in its own process.")
_CHILD = flags.DEFINE_string("child", None, "Internal: the layout to measure in this process.")


def measure(layout: str) -> dict:
    """Creates the state in this process (XLA_FLAGS already names the device count)."""
    import jax  # pylint: disable=import-outside-toplevel

    from diffdub_jax import parallel  # pylint: disable=import-outside-toplevel
    from diffdub_jax.training import tasks  # pylint: disable=import-outside-toplevel
    from diffdub_jax.training.loop import state_layout  # pylint: disable=import-outside-toplevel
    from diffdub_jax.training.state import make_optimizer  # pylint: disable=import-outside-toplevel

    config = load_config(_STAGE.value, _PRESET.value)
    config.train.fsdp = layout == "fsdp"
    stage, mesh = tasks.get(config.stage), parallel.make_mesh()
    model, optimizer = stage.build_model(config), make_optimizer(config.train)
    initial_state, abstract_state, sharding = state_layout(stage, model, config, optimizer, mesh)
    state = jax.block_until_ready(jax.jit(initial_state, out_shardings=sharding)())
    per_device = {}
    for leaf in jax.tree_util.tree_leaves(state):
        for shard in leaf.addressable_shards:
            per_device[shard.device.id] = per_device.get(shard.device.id, 0) + shard.data.nbytes
    state_bytes = sum(leaf.size * leaf.dtype.itemsize for leaf in jax.tree_util.tree_leaves(abstract_state))
    return {"layout": layout, "devices": len(jax.devices()), "state_gib": state_bytes / 2**30,
            "max_per_device_gib": max(per_device.values()) / 2**30,
            "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)  # the table, not the libraries' INFO lines
    if _CHILD.value:
        print(json.dumps(measure(_CHILD.value)))
        return
    print("| layout | devices | state (GiB) | most on one device (GiB) | peak host RSS (GiB) |\n|---|---|---|---|---|",
          flush=True)
    for item in _LAYOUTS.value:
        layout, devices = item.split(":")
        env = dict(os.environ, JAX_PLATFORMS="cpu",
                   XLA_FLAGS=f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={devices}")
        out = subprocess.run([sys.executable, __file__, f"--child={layout}", f"--stage={_STAGE.value}",
                              f"--preset={_PRESET.value}"], env=env, check=True, stdout=subprocess.PIPE, text=True)
        row = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"| {row['layout']} | {row['devices']} | {row['state_gib']:.2f} | {row['max_per_device_gib']:.2f} | "
              f"{row['peak_rss_gib']:.2f} |", flush=True)


if __name__ == "__main__":
    app.run(main)
