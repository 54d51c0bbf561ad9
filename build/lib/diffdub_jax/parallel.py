"""Device mesh and shardings: data parallel over a 'data' axis, with an FSDP option.

Batches are split over 'data'. Parameters are replicated, or with fsdp=True each parameter's
largest axis divisible by the device count is split over 'data' (XLA inserts the gathers).
Every host passes its own slice of the batch; `shard_batch` assembles the global arrays.
"""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

DATA_AXIS = "data"


def make_mesh(devices=None) -> Mesh:
    """A 1-D mesh over all (or the given) devices."""
    devices = np.asarray(jax.devices() if devices is None else devices)
    return Mesh(devices.reshape(-1), (DATA_AXIS,))


def batch_sharding(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec(DATA_AXIS))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec())


def parameter_sharding(tree, mesh: Mesh, fsdp: bool):
    """Shardings for a pytree of arrays (or ShapeDtypeStructs): replicated, or FSDP-split."""
    size = mesh.shape[DATA_AXIS]

    def spec(leaf):
        shape = getattr(leaf, "shape", ())
        if not fsdp or size == 1:
            return replicated(mesh)
        divisible = [axis for axis, dim in enumerate(shape) if dim % size == 0 and dim >= size]
        if not divisible:
            return replicated(mesh)
        axis = max(divisible, key=lambda a: shape[a])
        parts = [None] * len(shape)
        parts[axis] = DATA_AXIS
        return NamedSharding(mesh, PartitionSpec(*parts))

    return jax.tree_util.tree_map(spec, tree)


def shard_batch(batch: dict, mesh: Mesh) -> dict:
    """Global arrays from this host's slice of a batch (the leading axis is split over 'data')."""
    sharding = batch_sharding(mesh)
    return jax.tree_util.tree_map(
        lambda x: jax.make_array_from_process_local_data(sharding, np.asarray(x)), batch)
