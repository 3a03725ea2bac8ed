"""A fixed-capacity circular replay buffer that lives on the device.

The buffer is a pytree: `data` mirrors the structure of one stored item (a
`Transition`, say) with a leading `capacity` axis on every leaf, plus the next
write `position` and the number of filled entries `size`. `insert` and
`sample` are pure and jit-safe (no host sync), so an off-policy trainer keeps
its experience inside the same `jit` as the env and the updates:

    buffer = replay_buffer.init(100_000, example_transition)
    buffer = replay_buffer.insert(buffer, transitions)        # leaves [n, ...]
    batch = replay_buffer.sample(buffer, key, 256)             # leaves [256, ...]

Once full, each insert overwrites the oldest entries. Shapes, dtypes and the
structure of inserted data are checked when `insert` is traced.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct


@struct.dataclass
class ReplayBuffer:
    data: Any               # pytree, leaves [capacity, ...]
    position: jax.Array     # [] int32, index the next item is written to
    size: jax.Array         # [] int32, filled entries (<= capacity)

    @property
    def capacity(self) -> int:
        return jax.tree.leaves(self.data)[0].shape[0]


def init(capacity: int, example) -> ReplayBuffer:
    """An empty buffer for `capacity` items shaped like `example` (one item,
    without a leading axis)."""
    if not isinstance(capacity, int) or isinstance(capacity, bool) or capacity < 1:
        raise ValueError(f"replay_buffer.init: capacity: expected a positive int, got {capacity!r}")
    if not jax.tree.leaves(example):
        raise ValueError("replay_buffer.init: example has no arrays to store")
    data = jax.tree.map(lambda x: jnp.zeros((capacity,) + jnp.shape(x), jnp.result_type(x)), example)
    return ReplayBuffer(data, jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32))


def _check_batch(buffer: ReplayBuffer, batch) -> int:
    """The batch's leading size, after checking it against the stored layout."""
    want, got = jax.tree.structure(buffer.data), jax.tree.structure(batch)
    if want != got:
        raise ValueError(f"replay_buffer.insert: batch structure does not match the buffer: "
                         f"expected {want}, got {got}")
    sizes = set()
    for (path, stored), x in zip(jax.tree_util.tree_leaves_with_path(buffer.data),
                                 jax.tree.leaves(batch)):
        field = jax.tree_util.keystr(path)
        shape, dtype = jnp.shape(x), jnp.result_type(x)
        if len(shape) < 1 or shape[1:] != stored.shape[1:]:
            raise ValueError(f"replay_buffer.insert: field {field}: expected shape [n, *"
                             f"{stored.shape[1:]}], got {shape}")
        if dtype != stored.dtype:
            raise ValueError(f"replay_buffer.insert: field {field}: expected dtype "
                             f"{stored.dtype}, got {dtype}")
        sizes.add(shape[0])
    if len(sizes) != 1:
        raise ValueError(f"replay_buffer.insert: fields disagree on the batch size: {sorted(sizes)}")
    n = sizes.pop()
    if n > buffer.capacity:
        raise ValueError(f"replay_buffer.insert: batch of {n} items exceeds the buffer's "
                         f"capacity {buffer.capacity}")
    return n


def insert(buffer: ReplayBuffer, batch) -> ReplayBuffer:
    """`buffer` with `batch` (leaves `[n, ...]`, n <= capacity) written at the
    current position, wrapping past the end onto the oldest entries."""
    n = _check_batch(buffer, batch)
    capacity = buffer.capacity
    rows = (buffer.position + jnp.arange(n, dtype=jnp.int32)) % capacity
    data = jax.tree.map(lambda stored, x: stored.at[rows].set(x), buffer.data, batch)
    return ReplayBuffer(data, (buffer.position + n) % capacity,
                        jnp.minimum(buffer.size + n, capacity))


def sample(buffer: ReplayBuffer, key, batch_size: int):
    """`batch_size` items drawn uniformly, with replacement, from the filled
    entries; leaves `[batch_size, ...]`. An empty buffer returns its (zero)
    first entry, so callers fill it before sampling."""
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"replay_buffer.sample: batch_size: expected a positive int, got {batch_size!r}")
    rows = jax.random.randint(key, (batch_size,), 0, jnp.maximum(buffer.size, 1))
    return jax.tree.map(lambda stored: stored[rows], buffer.data)
