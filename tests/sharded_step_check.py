"""Run as a script under XLA_FLAGS=--xla_force_host_platform_device_count=8: prints the max abs
difference between two train steps on 1 device and on 8 devices (replicated and FSDP)."""

import functools
import json
import sys

import jax
import numpy as np

from diffdub_jax import parallel
from diffdub_jax.diffusion.schedule import Schedule
from diffdub_jax.models.renderer import renderer_from_config
from diffdub_jax.training import renderer as renderer_training
from diffdub_jax.training.state import create_state, make_optimizer
from renderer_fixtures import init, random_batch, tiny_config


def run(devices, fsdp: bool, steps: int = 2):
    config = tiny_config()
    model = renderer_from_config(config)
    optimizer = make_optimizer(config.train)
    mesh = parallel.make_mesh(devices)
    state = create_state(init(model), optimizer)
    sharding = parallel.parameter_sharding(state, mesh, fsdp)
    state = jax.device_put(state, sharding)
    step = jax.jit(functools.partial(renderer_training.train_step, model=model, schedule=Schedule.linear(),
                                     optimizer=optimizer, ema_decay=0.9),
                   in_shardings=(sharding, parallel.batch_sharding(mesh), parallel.replicated(mesh)),
                   out_shardings=(sharding, parallel.replicated(mesh)))
    for i in range(steps):
        batch = parallel.shard_batch(random_batch(32, 8, seed=i), mesh)
        state, _ = step(state, batch, jax.random.key(5))
    return jax.device_get(state.params)


def main():
    assert len(jax.devices()) == 8, jax.devices()
    single = run(jax.devices()[:1], fsdp=False)
    result = {}
    for name, fsdp in (("replicated", False), ("fsdp", True)):
        sharded = run(jax.devices(), fsdp=fsdp)
        diffs = jax.tree_util.tree_map(lambda a, b: float(np.abs(a - b).max()), single, sharded)
        result[name] = max(jax.tree_util.tree_leaves(diffs))
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
