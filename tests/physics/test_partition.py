"""Neighbour and cell lists against brute force, overflow flags, reallocation, and the
skin rule."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gambol.physics import partition, space

FORMATS = [partition.Dense, partition.Sparse, partition.OrderedSparse]


def brute_pairs(d, R, cutoff):
    R = jnp.asarray(R)
    r = np.asarray(space.distance(space.map_pair(d)(R, R)))
    n = len(R)
    i, j = np.nonzero((r < cutoff) & ~np.eye(n, dtype=bool))
    return set(zip(i.tolist(), j.tolist()))


def config(dim, n, box, seed):
    return jnp.asarray(np.random.RandomState(seed).rand(n, dim) * box, jnp.float32)


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.name)
@pytest.mark.parametrize("dim", [2, 3])
@pytest.mark.parametrize("periodic", [True, False], ids=["periodic", "free"])
@pytest.mark.parametrize("density", [0.3, 1.2])
def test_neighbor_list_equals_brute_force(fmt, dim, periodic, density):
    n = 300
    box = (n / density) ** (1 / dim)
    cutoff = 1.1
    d = space.periodic(box)[0] if periodic else space.free()[0]
    R = config(dim, n, box, seed=dim + int(10 * density))
    fns = partition.neighbor_list(d, box, cutoff, 0.3, format=fmt)
    nbrs = fns.allocate(R)
    assert not bool(nbrs.did_buffer_overflow)
    assert partition.pair_set(nbrs) == brute_pairs(d, R, cutoff + 0.3)
    # a forced update from other positions (the jitted path) is exact as well
    R2 = config(dim, n, box, seed=99)
    fns0 = partition.neighbor_list(d, box, cutoff, 0.0, format=fmt, capacity_multiplier=2.0)
    nb0 = fns0.allocate(R)
    nb0 = jax.jit(lambda r, nb: nb.update(r))(R2, nb0)
    if not bool(nb0.did_buffer_overflow):
        assert partition.pair_set(nb0) == brute_pairs(d, R2, cutoff)


def test_cell_list_path_and_all_pairs_path_agree():
    n, box = 400, 12.0
    d, _ = space.periodic(box)
    R = config(3, n, box, 5)
    with_cells = partition.neighbor_list(d, box, 2.5, 0.5).allocate(R)
    all_pairs = partition.neighbor_list(d, box, 2.5, 0.5, disable_cell_list=True).allocate(R)
    assert with_cells.cell_capacity > 0 and all_pairs.cell_capacity == 0
    assert partition.pair_set(with_cells) == partition.pair_set(all_pairs)


def test_fractional_coordinates_in_triclinic_box():
    T = np.array([[9.0, 1.5, 0.0], [0.0, 9.0, 1.0], [0.0, 0.0, 9.5]])
    d, _ = space.periodic_general(T)
    u = config(3, 300, 1.0, 7)
    nbrs = partition.neighbor_list(d, T, 2.0, 0.2, fractional_coordinates=True).allocate(u)
    assert nbrs.cell_capacity > 0
    assert partition.pair_set(nbrs) == brute_pairs(d, u, 2.2)


def test_cell_list_bins_every_particle_and_flags_overflow():
    box = 10.0
    R = config(2, 200, box, 3)
    allocate, update = partition.cell_list(box, 2.0)
    cells = allocate(R)
    ids = np.asarray(cells.id_buffer)
    assert sorted(ids[ids < 200].tolist()) == list(range(200))
    size = box / 5
    for c, row in enumerate(ids):
        for i in row[row < 200]:
            cx, cy = np.floor(np.asarray(R[i]) / size).astype(int)
            assert c == cx + 5 * cy
    crowded = R.at[:100].set(0.5)
    assert bool(update(crowded, cells).did_buffer_overflow)


@pytest.mark.parametrize("C, width, density", [(70, 9, 0.1), (64, 80, 0.5), (200, 20, 0.05), (33, 40, 1.0),
                                               (3000, 150, 0.04)])   # > 64 words: binary search
def test_first_true_columns_packs_each_row_in_order(C, width, density):
    mask = np.random.RandomState(C).rand(40, C) < density
    mask[0] = False                                                   # an empty row
    cols, filled, count = partition._first_true_columns(jnp.asarray(mask), width)
    np.testing.assert_array_equal(count, mask.sum(1))
    for row, c, f in zip(mask, np.asarray(cols), np.asarray(filled)):
        want = np.nonzero(row)[0][:width]
        np.testing.assert_array_equal(f, np.arange(width) < len(want))
        np.testing.assert_array_equal(c[f], want)


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.name)
def test_overflow_is_flagged_and_reallocation_is_exact(fmt):
    n, box = 250, 10.0
    d, _ = space.periodic(box)
    R = config(3, n, box, 11)
    fns = partition.neighbor_list(d, box, 1.5, 0.0, format=fmt)
    nbrs = fns.allocate(R)
    # squeeze half of the particles into a small corner: lists and cells overflow
    squeezed = R.at[: n // 2].multiply(0.3)
    nb2 = jax.jit(lambda r, nb: nb.update(r))(squeezed, nbrs)
    assert bool(nb2.did_buffer_overflow)
    assert nb2.error_names()
    nb3 = fns.allocate(squeezed)
    assert not bool(nb3.did_buffer_overflow)
    assert partition.pair_set(nb3) == brute_pairs(d, squeezed, 1.5)


def test_run_with_reallocation_reruns_the_chunk():
    n, box = 200, 9.0
    d, shift = space.periodic(box)
    R = config(2, n, box, 12)
    fns = partition.neighbor_list(d, box, 1.0, 0.2)
    nbrs = fns.allocate(R)
    centre = jnp.full((2,), box / 2)

    @jax.jit
    def chunk(R, nbrs):
        def body(carry, _):
            R, nbrs = carry
            R = shift(R, 0.1 * jax.vmap(d, (None, 0))(centre, R))  # contract toward the centre
            return (R, nbrs.update(R)), None
        return jax.lax.scan(body, (R, nbrs), None, length=10)[0]

    out, nb_out = partition.run_with_reallocation(chunk, R, nbrs, fns)
    assert not bool(nb_out.did_buffer_overflow)
    assert nb_out.capacity > nbrs.capacity
    # the result is the chunk run from the original state with enough room
    big = partition.neighbor_list(d, box, 1.0, 0.2, capacity_multiplier=8.0).allocate(R)
    ref, _ = chunk(R, big)
    np.testing.assert_allclose(out, ref, atol=1e-6)


def test_skin_rule_rebuilds_only_past_half_the_threshold():
    n, box, skin = 200, 10.0, 0.4
    d, shift = space.periodic(box)
    R = config(3, n, box, 13)
    nbrs = partition.neighbor_list(d, box, 1.5, skin).allocate(R)
    update = jax.jit(lambda r, nb: nb.update(r))
    small = shift(R, jnp.zeros_like(R).at[0, 0].set(0.49 * skin / 2))
    nb_small = update(small, nbrs)
    assert int(nb_small.rebuilds) == 0
    np.testing.assert_array_equal(nb_small.reference_position, R)
    big = shift(R, jnp.zeros_like(R).at[0, 0].set(0.51 * skin))
    nb_big = update(big, nbrs)
    assert int(nb_big.rebuilds) == 1
    assert partition.pair_set(nb_big) == brute_pairs(d, big, 1.5 + skin)


def test_to_dense_round_trip():
    n, box = 150, 8.0
    d, _ = space.periodic(box)
    R = config(2, n, box, 14)
    for fmt in (partition.Sparse, partition.OrderedSparse):
        nbrs = partition.neighbor_list(d, box, 1.2, format=fmt).allocate(R)
        dense = np.asarray(partition.to_dense(nbrs))
        pairs = {(i, int(j)) for i, row in enumerate(dense) for j in row if j < n}
        assert pairs == brute_pairs(d, R, 1.2)


def test_bad_input_raises_clear_errors():
    d, _ = space.periodic(5.0)
    with pytest.raises(ValueError, match="r_cutoff"):
        partition.neighbor_list(d, 5.0, 2.6).allocate(jnp.zeros((10, 3)))
    with pytest.raises(ValueError, match="box"):
        partition.neighbor_list(d, -5.0, 1.0)
    with pytest.raises(ValueError, match="r_cutoff"):
        partition.neighbor_list(d, 5.0, 0.0)
    with pytest.raises(ValueError, match="dr_threshold"):
        partition.neighbor_list(d, 5.0, 1.0, -0.1)
    with pytest.raises(ValueError, match="format"):
        partition.neighbor_list(d, 5.0, 1.0, format="dense")
    fns = partition.neighbor_list(d, 5.0, 1.0)
    with pytest.raises(ValueError, match=r"R: expected positions of shape \[n, dim\]"):
        fns.allocate(jnp.zeros(10))
    with pytest.raises(TypeError, match="floating"):
        fns.allocate(jnp.zeros((10, 3), jnp.int32))
    d3, _ = space.periodic(jnp.array([5.0, 5.0, 5.0]))
    with pytest.raises(ValueError, match="dimension"):
        partition.neighbor_list(d3, jnp.array([5.0, 5.0, 5.0]), 1.0).allocate(jnp.zeros((10, 2)))
    nbrs = fns.allocate(jnp.asarray(np.random.RandomState(0).rand(10, 3) * 5))
    with pytest.raises(ValueError, match="allocate again"):
        nbrs.update(jnp.zeros((11, 3)))


def test_batch_axis_rebuilds_the_whole_batch_together_and_exactly():
    box = 10.0
    disp, _ = space.periodic(box)
    fns = partition.neighbor_list(disp, box, r_cutoff=1.5, dr_threshold=0.5)
    R = jax.random.uniform(jax.random.PRNGKey(0), (2, 60, 2), maxval=box)
    nbrs = jax.vmap(lambda r: fns.rebuild(r, fns.allocate(R[0], extra_capacity=8)))(R)
    update = jax.jit(jax.vmap(lambda nb, r: nb.update(r, batch_axis_name="b"), axis_name="b"))
    still = update(nbrs, R + 0.1)                    # nobody moved past dr_threshold / 2
    np.testing.assert_array_equal(still.rebuilds, [0, 0])
    moved = R.at[1, 3].add(0.4)                      # one particle of member 1 moved 0.4 > 0.25
    both = update(nbrs, moved)
    np.testing.assert_array_equal(both.rebuilds, [1, 1])   # the batch rebuilds together
    for b in range(2):
        fresh = fns.allocate(moved[b])
        assert partition.pair_set(jax.tree_util.tree_map(lambda x: x[b], both)) == partition.pair_set(fresh)
