"""training/replay_buffer: circular order against a numpy reference, uniform
sampling over the filled part, trace-time errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gambol.training import replay_buffer
from gambol.training.acting import Transition


# float32 also when another test module enabled float64
EXAMPLE = {"obs": jnp.zeros(2, jnp.float32), "id": jnp.zeros((), jnp.float32)}


def _items(start, n):
    """Items numbered start..start+n-1: a dict with a vector and a scalar field."""
    ids = np.arange(start, start + n, dtype=np.float32)
    return {"obs": jnp.asarray(np.stack([ids, -ids], axis=1)), "id": jnp.asarray(ids)}


class NumpyRing:
    """Reference: a python list ring buffer."""

    def __init__(self, capacity):
        self.capacity, self.rows, self.position = capacity, [None] * capacity, 0

    def insert(self, ids):
        for i in ids:
            self.rows[self.position] = i
            self.position = (self.position + 1) % self.capacity


@pytest.mark.parametrize("sizes", [(3, 4, 5, 2, 7), (10, 10, 1, 9)])
def test_insert_wraps_like_a_numpy_ring(sizes):
    capacity = 10
    buf = replay_buffer.init(capacity, EXAMPLE)
    ref = NumpyRing(capacity)
    insert = jax.jit(replay_buffer.insert)
    start = 0
    for n in sizes:  # several of these straddle the end of the buffer
        buf = insert(buf, _items(start, n))
        ref.insert(range(start, start + n))
        start += n
        filled = [r for r in ref.rows if r is not None]
        assert int(buf.size) == len(filled)
        assert int(buf.position) == ref.position
        expected = np.array([np.nan if r is None else r for r in ref.rows], np.float32)
        got = np.asarray(buf.data["id"])
        mask = ~np.isnan(expected)
        np.testing.assert_array_equal(got[mask], expected[mask])
        np.testing.assert_array_equal(np.asarray(buf.data["obs"])[mask],
                                      np.stack([expected, -expected], 1)[mask])


def test_sampling_returns_only_filled_entries_and_covers_them():
    buf = replay_buffer.init(64, EXAMPLE)
    buf = replay_buffer.insert(buf, _items(1, 5))  # ids 1..5 in rows 0..4, rows 5.. are zero
    batch = jax.jit(replay_buffer.sample, static_argnums=2)(buf, jax.random.PRNGKey(0), 2000)
    ids = np.asarray(batch["id"])
    assert batch["obs"].shape == (2000, 2)
    np.testing.assert_array_equal(np.asarray(batch["obs"])[:, 0], ids)
    assert set(ids.tolist()) == {1.0, 2.0, 3.0, 4.0, 5.0}
    counts = np.bincount(ids.astype(int))[1:]
    # uniform: each of the 5 ids has probability 1/5 (binomial std ~ 18 of 400)
    assert np.all(np.abs(counts - 400) < 100)


def test_a_transition_pytree_round_trips():
    example = Transition(jnp.zeros(3), jnp.zeros(1), jnp.zeros(()), jnp.ones(()), jnp.zeros(()),
                         jnp.zeros(3), {})  # float64 if another module enabled it: any dtype works
    buf = replay_buffer.init(4, example)
    batch = jax.tree.map(lambda x: jnp.broadcast_to(x, (3,) + x.shape) + 7.0, example)
    buf = replay_buffer.insert(buf, batch)
    out = replay_buffer.sample(buf, jax.random.PRNGKey(1), 5)
    assert isinstance(out, Transition) and out.obs.shape == (5, 3)
    np.testing.assert_array_equal(out.discount, 8.0)


def test_insert_errors_name_the_field():
    buf = replay_buffer.init(8, EXAMPLE)
    with pytest.raises(ValueError, match=r"field \['obs'\]: expected shape \[n, \*\(2,\)\], got \(3, 4\)"):
        replay_buffer.insert(buf, {"obs": jnp.zeros((3, 4), jnp.float32),
                                   "id": jnp.zeros(3, jnp.float32)})
    with pytest.raises(ValueError, match=r"field \['id'\]: expected dtype float32, got int32"):
        replay_buffer.insert(buf, {"obs": jnp.zeros((3, 2), jnp.float32),
                                   "id": jnp.zeros(3, jnp.int32)})
    with pytest.raises(ValueError, match="batch structure does not match"):
        replay_buffer.insert(buf, {"obs": jnp.zeros((3, 2), jnp.float32)})
    with pytest.raises(ValueError, match=r"disagree on the batch size: \[2, 3\]"):
        replay_buffer.insert(buf, {"obs": jnp.zeros((3, 2), jnp.float32),
                                   "id": jnp.zeros(2, jnp.float32)})
    with pytest.raises(ValueError, match="batch of 9 items exceeds the buffer's capacity 8"):
        jax.jit(replay_buffer.insert)(buf, _items(0, 9))
    with pytest.raises(ValueError, match="capacity: expected a positive int, got 0"):
        replay_buffer.init(0, {"id": jnp.zeros(())})
