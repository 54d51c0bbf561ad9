"""One process of a multi-process training of the tiny renderer on the CPU, as a pod host runs it.

    XLA_FLAGS=--xla_force_host_platform_device_count=4 python tests/multiprocess_train.py \
        --process_id=0 --num_processes=2 --port=PORT --data_dir=D --workdir=W --out=O \
        --layouts=replicated,fsdp

Processes meet through jax.distributed on localhost and exchange gradients with CPU (gloo)
collectives. They train once per parameter layout (in W/<layout>); each writes the record indices
it read, in order, to O.<layout>.records.<process>.json, and process 0 writes the final
parameters to O.<layout>.npz. With --num_processes=1 --shards=2 a single process
reads the two hosts' shards itself and trains on their concatenation: the same global batches as
the 2-process run, on one process's devices (the reference the test compares with).
"""

import argparse
import json

import jax
import jax.experimental.multihost_utils
import numpy as np

from diffdub_jax import distributed
from diffdub_jax.training import renderer as renderer_task
from diffdub_jax.training import tasks
from renderer_fixtures import tiny_config


class MergedShards:
    """The batches `shards` hosts would read, concatenated: host 0's rows first, as the global array
    of a multi-process run orders them. Checkpointable like a grain iterator."""

    def __init__(self, input_stream, config, split: str, shards: int):
        host = config.copy_and_resolve_references()
        host.data.batch_size = config.data.batch_size // shards
        self.iterators = [iter(input_stream(host, split, shard, shards)) for shard in range(shards)]

    def __iter__(self):
        return self

    def __next__(self):
        batches = [next(iterator) for iterator in self.iterators]
        return {key: np.concatenate([batch[key] for batch in batches]) for key in batches[0]}

    def get_state(self):
        return {str(i): iterator.get_state() for i, iterator in enumerate(self.iterators)}

    def set_state(self, state):
        for i, iterator in enumerate(self.iterators):
            iterator.set_state(state[str(i)])


class RecordLog:
    """Passes a stream's batches through, appending their record indices to a list."""

    def __init__(self, iterator, seen: list):
        self.iterator, self.seen = iterator, seen

    def __iter__(self):
        return self

    def __next__(self):
        batch = next(self.iterator)
        self.seen.extend(int(i) for i in batch["record_index"])
        return batch

    def get_state(self):
        return self.iterator.get_state()

    def set_state(self, state):
        self.iterator.set_state(state)


def main():
    parser = argparse.ArgumentParser()
    for name in ("process_id", "num_processes", "port", "shards", "stop_after", "steps"):
        parser.add_argument(f"--{name}", type=int, default=None)
    for name in ("data_dir", "workdir", "out"):
        parser.add_argument(f"--{name}")
    parser.add_argument("--layouts", default="fsdp", help="comma-separated: replicated, fsdp")
    args = parser.parse_args()

    if args.num_processes > 1:  # as `train --coordinator_address --num_processes --process_id` joins
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        distributed.initialize_distributed(f"localhost:{args.port}", args.num_processes, args.process_id)
    seen = []
    original = renderer_task.input_stream

    def input_stream(host_config, split, shard_index=0, shard_count=1):
        if args.shards and shard_count == 1:
            return RecordLog(MergedShards(original, host_config, split, args.shards), seen)
        return RecordLog(iter(original(host_config, split, shard_index, shard_count)), seen)

    renderer_task.input_stream = input_stream  # the Task is the module: the loop reads this name
    for layout in args.layouts.split(","):  # one launch per layout would pay start-up and set-up twice
        config = tiny_config(args.data_dir)
        config.data.batch_size = 8  # one example per device
        config.train.num_steps = args.steps
        config.train.checkpoint_every = 2
        config.train.sample_every = 2  # the in-training sampler, as the `real` preset runs it on a pod
        config.train.fsdp = {"replicated": False, "fsdp": True}[layout]
        seen.clear()
        state = tasks.train(config, f"{args.workdir}/{layout}", stop_after=args.stop_after)
        with open(f"{args.out}.{layout}.records.{jax.process_index()}.json", "w") as file:
            json.dump(seen, file)
        params = jax.tree_util.tree_map(lambda x: np.asarray(jax.device_get(
            jax.experimental.multihost_utils.process_allgather(x, tiled=True))), state.params)
        if jax.process_index() == 0:
            np.savez(f"{args.out}.{layout}.npz", *jax.tree_util.tree_leaves(params))


if __name__ == "__main__":
    main()
