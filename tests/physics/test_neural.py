"""Neural energies (Behler-Parrinello, graph network): invariances, forces = -grad E against
finite differences (float64), neighbour list == all pairs in periodic and triclinic boxes,
species, vmap over systems, use by simulate / minimize / quantity, overflow and
reallocation, and errors for bad input.

Both models see distances and angles only, so the graph network is invariant by
construction too (no reliance on augmentation)."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gambol.physics import minimize, neural, partition, quantity, simulate, space, three_body

CUTOFF = {"bp": 3.8, "gnn": 4.5, "gnn_distance": 4.5}
BUILD = {"bp": (neural.behler_parrinello, neural.behler_parrinello_neighbor_list),
         "gnn": (neural.graph_network, neural.graph_network_neighbor_list),
         "gnn_distance": (neural.graph_network, neural.graph_network_neighbor_list)}
SMALL = {"bp": dict(mlp_sizes=(8, 8)), "gnn": dict(features=8, rounds=2, num_basis=6),
         "gnn_distance": dict(features=8, rounds=2, num_basis=6, angular=False)}
pytestmark = pytest.mark.usefixtures("x64_module")


@pytest.fixture(scope="module")
def crystal():
    """64-atom diamond silicon perturbed by 0.15 Å, box side 10.862 Å."""
    R, L = three_body.diamond_lattice(2)
    return jnp.asarray(R + 0.15 * np.random.RandomState(0).randn(*R.shape)), L


def model(name, d, **kw):
    return BUILD[name][0](d, CUTOFF[name], **{**SMALL[name], **kw})


def model_nl(name, d, box, **kw):
    return BUILD[name][1](d, box, CUTOFF[name], **{**SMALL[name], **kw})


@pytest.fixture(scope="module")
def params(crystal):
    """Parameters of each model, initialised on the crystal (with a random per-atom shift)."""
    R, L = crystal
    d, _ = space.periodic(L)
    out = {}
    for name in BUILD:
        init, _ = model(name, d, num_species=2)
        p = jax.jit(init)(jax.random.PRNGKey(1), R)
        out[name] = {**p, "shift": jnp.array([-4.3, -3.9])}
    return out


@pytest.mark.parametrize("name", ["bp", "gnn", "gnn_distance"])
def test_translation_rotation_reflection_permutation_invariance(name, crystal, params):
    R, _ = crystal
    R = R[:30]                                      # a free cluster
    d, _ = space.free()
    species = jnp.asarray(np.random.RandomState(3).randint(0, 2, 30))
    _, e = model(name, d, num_species=2)
    e0 = e(params[name], R, species=species)
    Q, _ = np.linalg.qr(np.random.RandomState(2).randn(3, 3))         # a rotation or a reflection
    perm = np.random.RandomState(4).permutation(30)
    np.testing.assert_allclose(e(params[name], R + jnp.array([2.0, -7.0, 0.5]), species=species), e0, rtol=1e-10)
    np.testing.assert_allclose(e(params[name], R @ Q.T, species=species), e0, rtol=1e-10)
    np.testing.assert_allclose(e(params[name], R @ np.diag([1, 1, -1.0]), species=species), e0, rtol=1e-10)
    np.testing.assert_allclose(e(params[name], R[perm], species=species[perm]), e0, rtol=1e-10)
    # species matter: relabelling one atom changes the energy
    assert abs(float(e(params[name], R, species=species.at[0].set(1 - species[0]))) - float(e0)) > 1e-6


@pytest.mark.parametrize("name, space_name", [("bp", "periodic"), ("bp", "periodic_general"),
                                              ("gnn", "periodic"), ("gnn", "periodic_general"),
                                              ("gnn_distance", "periodic")])
def test_neighbor_list_equals_all_pairs_and_forces_match_finite_differences(name, space_name, crystal, params):
    R, L = crystal
    species = jnp.asarray(np.arange(64) % 2)
    if space_name == "periodic":
        d, _ = space.periodic(L)
        X, box, kw = R, L, dict(fractional_coordinates=False)
    else:
        T = np.array([[L, 0.4, 0.0], [0.0, L, -0.3], [0.0, 0.0, L]])
        d, _ = space.periodic_general(T)
        X, box, kw = jnp.linalg.solve(T, R.T).T % 1.0, T, dict(fractional_coordinates=True)
    _, e_all = model(name, d, num_species=2, species=species)
    neighbor_fn, _, e_nl = model_nl(name, d, box, num_species=2, species=species, dr_threshold=0.3, **kw)
    nbrs = neighbor_fn.allocate(X)
    p = params[name]
    np.testing.assert_allclose(e_nl(p, X, neighbor=nbrs), jax.jit(functools.partial(e_all, p))(X), rtol=1e-11)
    F = jax.jit(quantity.force(functools.partial(e_nl, p)))(X, neighbor=nbrs)
    np.testing.assert_allclose(jnp.sum(F, 0), 0.0, atol=1e-9)
    e = jax.jit(lambda X: e_nl(p, X, neighbor=nbrs))
    h = 1e-5
    for i, k in [(0, 0), (9, 1), (33, 2), (62, 0)]:
        step = jnp.zeros(3).at[k].set(h)
        if space_name == "periodic_general":
            step = jnp.linalg.solve(T, step)          # a real-space step in fractional coordinates
        fd = -(e(X.at[i].add(step)) - e(X.at[i].add(-step))) / (2 * h)
        np.testing.assert_allclose(F[i, k], fd, rtol=1e-6, atol=1e-8)


def test_vmap_over_a_batch_of_systems(crystal, params):
    """(The graph network; vmap goes through the same neighbourhood code for BP.)"""
    name = "gnn"
    R, L = crystal
    d, _ = space.periodic(L)
    neighbor_fn, _, e_nl = model_nl(name, d, L, num_species=2, dr_threshold=0.3)
    nbrs = neighbor_fn.allocate(R)
    Rs = R + 0.05 * jnp.asarray(np.random.RandomState(5).randn(3, 64, 3))
    batch = jax.vmap(neighbor_fn.rebuild, (0, None))(Rs, nbrs)
    assert not np.any(np.asarray(batch.did_buffer_overflow))
    E = jax.vmap(functools.partial(e_nl, params[name]))(Rs, neighbor=batch)
    expected = [e_nl(params[name], Rs[b], neighbor=neighbor_fn.allocate(Rs[b])) for b in range(3)]
    np.testing.assert_allclose(E, expected, rtol=1e-11)


def test_baked_in_energy_drives_simulate_minimize_with_reallocation(crystal, params):
    """partial(energy_fn, params) is an ordinary energy: a Langevin chunk that starts from a
    list too small for the compressed crystal overflows, run_with_reallocation re-allocates,
    and the result matches the all-pairs energy; FIRE lowers the energy."""
    R, L = crystal
    d, shift = space.periodic(L)
    neighbor_fn, _, e_nl = model_nl("gnn", d, L, num_species=2, dr_threshold=0.4, capacity_multiplier=1.0)
    _, e_all = model("gnn", d, num_species=2)
    energy = functools.partial(e_nl, params["gnn"])
    init, apply = simulate.nvt_langevin(energy, shift, dt=0.02, kT=0.05, gamma=0.5)
    nbrs = neighbor_fn.allocate(R)
    # compressed about the centre to 85% of the spacing: more neighbours than the list holds
    Rc = jnp.mod((R - L / 2) * 0.85 + L / 2, L)

    def step(_, carry):
        nb = carry[1].update(carry[0].position)
        return apply(carry[0], neighbor=nb), nb

    chunk = jax.jit(lambda state, nbrs: jax.lax.fori_loop(0, 5, step, (state, nbrs)))

    state = init(jax.random.PRNGKey(0), Rc, mass=28.0, neighbor=neighbor_fn.allocate(Rc))
    first, overflowed = chunk(state, nbrs)
    assert bool(overflowed.did_buffer_overflow)
    state, nbrs = partition.run_with_reallocation(chunk, state, nbrs, neighbor_fn, position_fn=lambda s: s.position)
    assert not bool(nbrs.did_buffer_overflow) and np.all(np.isfinite(np.asarray(state.position)))
    np.testing.assert_allclose(energy(state.position, neighbor=nbrs.update(state.position)),
                               e_all(params["gnn"], state.position), rtol=1e-10)
    fire_init, fire_apply = minimize.fire_descent(energy, shift, dt_start=0.01, dt_max=0.05)
    fire = fire_init(R, neighbor=nbrs)
    step = jax.jit(lambda s, nb: fire_apply(s, neighbor=nb))
    nb = neighbor_fn.allocate(R)
    for _ in range(20):
        fire = step(fire, nb)
    assert float(energy(fire.position, neighbor=nb)) < float(energy(R, neighbor=nb))


def test_bad_input_raises_at_build_or_trace_time(crystal, params):
    """Both models validate through the same path; the neighbour-list checks run on the GNN."""
    R, L = crystal
    d, _ = space.periodic(L)
    for name in ("bp", "gnn"):
        with pytest.raises(ValueError, match=r"species: ids must lie in \[0, 2\)"):
            model(name, d, num_species=2, species=np.full(64, 2))
        with pytest.raises(ValueError, match="r_cutoff: expected a positive scalar"):
            BUILD[name][0](d, -1.0)
        with pytest.raises(ValueError, match="num_species: expected a positive int"):
            BUILD[name][0](d, 3.0, num_species=0)
    name = "gnn"
    neighbor_fn, init, e_nl = model_nl(name, d, L, num_species=2, dr_threshold=0.3)
    nbrs = neighbor_fn.allocate(R)
    p = params[name]
    with pytest.raises(ValueError, match=r"species: ids must lie in \[0, 2\)"):
        e_nl(p, R, neighbor=nbrs, species=jnp.full(64, -1))
    with pytest.raises(ValueError, match=r"species: expected an int array of shape \[64\]"):
        e_nl(p, R, neighbor=nbrs, species=jnp.zeros(10, jnp.int32))
    with pytest.raises(ValueError, match="R: expected positions of shape"):
        e_nl(p, R[:, :, None], neighbor=nbrs)
    with pytest.raises(ValueError, match="neighbor: the list's cutoff .* is smaller than the energy's cutoff"):
        e_nl(p, R, neighbor=three_body.neighbor_list(d, L, 3.0, 0.2).allocate(R))
    with pytest.raises(ValueError, match="neighbor: this energy was built with a neighbour list"):
        e_nl(p, R)


@pytest.mark.parametrize("name", ["bp", "gnn"])
def test_force_loss_gradient_is_finite_with_padded_lists(name, crystal, params):
    """Training differentiates forces again: padding slots (several per row here) must not
    put NaNs into the second derivatives."""
    R, L = crystal
    d, _ = space.periodic(L)
    neighbor_fn, _, e_nl = model_nl(name, d, L, num_species=2, dr_threshold=0.3, capacity_multiplier=1.5)
    nbrs = neighbor_fn.allocate(R)
    assert int(np.sum(np.asarray(nbrs.idx) == 64, axis=1).min()) >= 2
    loss = lambda p: jnp.sum(quantity.force(functools.partial(e_nl, p))(R, neighbor=nbrs) ** 2)
    g = jax.jit(jax.grad(loss))(params[name])
    assert all(np.all(np.isfinite(np.asarray(x))) for x in jax.tree.leaves(g))
