"""Device parallelism: one jitted training iteration over a mesh of devices.

The env batch is split over the devices along its leading axis (the
`"batch"` axis of the mesh); parameters, optimizer states, statistics and
keys are replicated. The iteration itself is the same global program as on
one device, jitted with these shardings, so XLA partitions the env steps and
turns every mean over the batch (losses, gradients, statistics) into a
cross-device reduction. Because the program is the global one, random draws
are those of the global batch (each device computes its slice of them), and
the result equals the one-device run up to the order of float additions.
Parameters stay identical on every device: they are replicated outputs.

Across processes (`jax.distributed.initialize`), `jax.devices()` is every
process's devices, and each process contributes its own shards of the state
(`place`), so the same trainers run multi-host unchanged.
"""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

AXIS = "batch"


def initialize(coordinator_address: str, num_processes: int, process_id: int) -> None:
    """Join a multi-process run (`jax.distributed.initialize`) before any other jax
    call. CPU processes exchange collectives through gloo (the default from jax
    0.5 on, set here for older versions); GPUs use NCCL as usual."""
    if "jax_cpu_collectives_implementation" in jax.config.values:
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator_address, num_processes=num_processes,
                               process_id=process_id)


def make_mesh(num_devices: int | None = None, batch_size: int | None = None,
              batch_field: str = "num_envs") -> Mesh:
    """A one-axis mesh over the first `num_devices` of `jax.devices()` (all by
    default); `batch_size` (named `batch_field` in errors) must split evenly."""
    devices = jax.devices()
    if num_devices is None:
        num_devices = len(devices)
    if isinstance(num_devices, bool) or not isinstance(num_devices, (int, np.integer)) \
            or not 1 <= num_devices <= len(devices):
        raise ValueError(f"num_devices: expected an int in [1, {len(devices)}] (jax.devices()), "
                         f"got {num_devices!r}")
    if jax.process_count() > 1 and num_devices != len(devices):
        raise ValueError(f"num_devices: a multi-process run uses every device ({len(devices)}), "
                         f"got {num_devices}")
    if batch_size is not None and batch_size % num_devices:
        raise ValueError(f"{batch_field}: expected a multiple of the {num_devices} devices, "
                         f"got {batch_size}")
    return Mesh(np.asarray(devices[:num_devices]), (AXIS,))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec())


def batch_sharded(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec(AXIS))


def _put(x, sharding: NamedSharding):
    if jax.process_count() == 1:
        return jax.device_put(x, sharding)
    # every process holds the whole value; each contributes the shards it addresses
    host = np.asarray(x)
    return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])


def place(state, mesh: Mesh):
    """`state` on `mesh`: the leaves of `state.env_state` (if it has one) split
    along their leading batch axis, every other leaf replicated."""
    if not hasattr(state, "env_state"):
        return jax.tree.map(lambda x: _put(x, replicated(mesh)), state)
    rest = jax.tree.map(lambda x: _put(x, replicated(mesh)), state.replace(env_state=None))
    return rest.replace(env_state=jax.tree.map(lambda x: _put(x, batch_sharded(mesh)),
                                               state.env_state))
