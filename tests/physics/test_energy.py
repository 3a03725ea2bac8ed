"""Pair potentials and their lifts: closed forms, gradients against finite differences
(float64), momentum conservation, neighbour list = all pairs, species parameters, and
errors for mismatched inputs."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gambol.physics import energy, partition, smap, space


BOX = 7.0


@pytest.fixture(scope="module")
def R():
    # a gently perturbed lattice: no overlaps that blow up Lennard-Jones
    n = 4
    g = np.stack(np.meshgrid(*[np.arange(n)] * 3, indexing="ij"), -1).reshape(-1, 3)
    return jnp.asarray((g + 0.5) * BOX / n + 0.15 * np.random.RandomState(0).randn(n**3, 3))


def test_pair_functions_closed_forms():
    np.testing.assert_allclose(energy.lennard_jones(2 ** (1 / 6) * 1.3, sigma=1.3, epsilon=2.0), -2.0)
    np.testing.assert_allclose(energy.lennard_jones(1.3, sigma=1.3), 0.0, atol=1e-14)
    np.testing.assert_allclose(energy.morse(1.1, sigma=1.1, epsilon=3.0), -3.0)
    np.testing.assert_allclose(energy.soft_sphere(0.5, sigma=1.0, epsilon=2.0, alpha=2.0), 0.25)
    np.testing.assert_allclose(energy.soft_sphere(1.2), 0.0)
    np.testing.assert_allclose(energy.simple_spring(1.5, length=1.0, epsilon=4.0), 0.5)
    # the switch is 1 below the onset, 0 beyond the cutoff, C¹ at both ends
    f = energy.multiplicative_isotropic_cutoff(lambda r: jnp.ones_like(r), 2.0, 2.5)
    df = jax.grad(f)
    np.testing.assert_allclose([f(1.9), f(2.0), f(2.5), f(2.6)], [1, 1, 0, 0], atol=1e-12)
    np.testing.assert_allclose([df(2.0 + 1e-9), df(2.5 - 1e-9)], [0, 0], atol=1e-6)


SYSTEMS = {
    "soft_sphere": lambda d: energy.soft_sphere_pair(d, sigma=1.6),
    "lennard_jones": lambda d: energy.lennard_jones_pair(d, r_onset=1.5, r_cutoff=2.0),
    "morse": lambda d: energy.morse_pair(d, sigma=1.2, epsilon=1.0, alpha=3.0, r_onset=2.0, r_cutoff=2.5),
    "spring": lambda d: energy.simple_spring_pair(d, length=1.5, r_cutoff=2.0),
}
NEIGHBOR_SYSTEMS = {
    "soft_sphere": lambda d, f: energy.soft_sphere_neighbor_list(d, BOX, sigma=1.6, format=f),
    "lennard_jones": lambda d, f: energy.lennard_jones_neighbor_list(d, BOX, r_onset=1.5, r_cutoff=2.0,
                                                                     dr_threshold=0.3, format=f),
    "morse": lambda d, f: energy.morse_neighbor_list(d, BOX, sigma=1.2, epsilon=1.0, alpha=3.0, r_onset=2.0,
                                                     r_cutoff=2.5, dr_threshold=0.3, format=f),
    "spring": lambda d, f: energy.simple_spring_neighbor_list(d, BOX, r_cutoff=2.0, length=1.5, format=f),
}


def central_fd_grad(e, R, entries, h=1e-6):
    out = []
    for (i, k) in entries:
        dR = jnp.zeros_like(R).at[i, k].set(h)
        out.append((e(R + dR) - e(R - dR)) / (2 * h))
    return np.array(out)


@pytest.mark.parametrize("name", list(SYSTEMS))
def test_pair_energy_gradient_matches_finite_differences(name, R):
    d, _ = space.periodic(BOX)
    e = SYSTEMS[name](d)
    g = jax.grad(e)(R)
    entries = [(0, 0), (5, 1), (17, 2), (40, 0), (63, 1)]
    np.testing.assert_allclose(np.array([g[i, k] for i, k in entries]), central_fd_grad(e, R, entries),
                               rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(jnp.sum(g, axis=0), 0.0, atol=1e-9)  # Newton's third law


@pytest.mark.parametrize("fmt", [partition.Dense, partition.Sparse, partition.OrderedSparse],
                         ids=lambda f: f.name)
@pytest.mark.parametrize("name", list(NEIGHBOR_SYSTEMS))
def test_neighbor_list_energy_equals_all_pairs(name, fmt, R):
    d, _ = space.periodic(BOX)
    neighbor_fn, e_nl = NEIGHBOR_SYSTEMS[name](d, fmt)
    e_all = SYSTEMS[name](d)
    nbrs = neighbor_fn.allocate(R)
    np.testing.assert_allclose(e_nl(R, nbrs), e_all(R), rtol=1e-12)
    g = jax.grad(e_nl)(R, nbrs)
    np.testing.assert_allclose(g, jax.grad(e_all)(R), atol=1e-10)
    np.testing.assert_allclose(jnp.sum(g, axis=0), 0.0, atol=1e-9)
    e1 = lambda r: e_nl(r, nbrs)
    entries = [(3, 0), (22, 2), (50, 1)]
    np.testing.assert_allclose(np.array([g[i, k] for i, k in entries]), central_fd_grad(e1, R, entries),
                               rtol=1e-5, atol=1e-7)


def test_dense_list_second_derivatives_are_exact(R):
    """The scatter-free force of a Dense list keeps Hessian-vector products and parameter
    derivatives exact (forward and reverse), as differentiating through dynamics needs."""
    d, _ = space.periodic(BOX)
    neighbor_fn, e_nl = energy.soft_sphere_neighbor_list(d, BOX, sigma=1.6)
    nbrs = neighbor_fn.allocate(R)
    e_all = energy.soft_sphere_pair(d, sigma=1.6)
    t = jnp.asarray(np.random.RandomState(1).randn(*R.shape))
    hvp_nl = jax.jvp(jax.grad(lambda r: e_nl(r, nbrs)), (R,), (t,))[1]
    hvp_all = jax.jvp(jax.grad(e_all), (R,), (t,))[1]
    np.testing.assert_allclose(hvp_nl, hvp_all, atol=1e-10)
    rev = jax.grad(lambda r: jnp.vdot(jax.grad(lambda q: e_nl(q, nbrs))(r), t))(R)
    np.testing.assert_allclose(rev, hvp_all, atol=1e-10)
    # d(force)/d(sigma) and dE/d(epsilon)
    np.testing.assert_allclose(jax.jacfwd(lambda s: jax.grad(lambda r: e_nl(r, nbrs, sigma=s))(R))(1.6),
                               jax.jacfwd(lambda s: jax.grad(lambda r: e_all(r, sigma=s))(R))(1.6), atol=1e-10)
    np.testing.assert_allclose(jax.grad(lambda eps: e_nl(R, nbrs, epsilon=eps))(2.0),
                               jax.grad(lambda eps: e_all(R, epsilon=eps))(2.0), rtol=1e-12)


def test_species_and_per_particle_parameters_match_brute_force(R):
    d, _ = space.periodic(BOX)
    n = R.shape[0]
    species = np.arange(n) % 2
    sigma = jnp.array([[1.0, 1.2], [1.2, 1.4]])
    e = energy.soft_sphere_pair(d, species=species, sigma=sigma)
    r = space.distance(space.map_pair(d)(R, R))
    s = sigma[species[:, None], species[None, :]]
    ref = 0.5 * jnp.sum(jnp.where(jnp.eye(n, dtype=bool), 0.0, energy.soft_sphere(r, sigma=s)))
    np.testing.assert_allclose(e(R), ref, rtol=1e-12)
    neighbor_fn, e_nl = energy.soft_sphere_neighbor_list(d, BOX, species=species, sigma=sigma)
    np.testing.assert_allclose(e_nl(R, neighbor_fn.allocate(R)), ref, rtol=1e-12)
    # per-particle diameters combine as the arithmetic mean
    diam = jnp.asarray(np.random.RandomState(2).uniform(1.0, 1.5, n))
    e_pp = energy.soft_sphere_pair(d, sigma=diam)
    ref_pp = 0.5 * jnp.sum(jnp.where(jnp.eye(n, dtype=bool), 0.0,
                                     energy.soft_sphere(r, sigma=0.5 * (diam[:, None] + diam[None, :]))))
    np.testing.assert_allclose(e_pp(R), ref_pp, rtol=1e-12)
    # per-particle energies sum to the total
    e_each = energy.soft_sphere_pair(d, species=species, sigma=sigma, per_particle=True)
    np.testing.assert_allclose(jnp.sum(e_each(R)), ref, rtol=1e-12)


def test_bond_energy_and_types():
    d, _ = space.free()
    R = jnp.array([[0.0, 0.0], [1.5, 0.0], [1.5, 2.0]])
    bonds = jnp.array([[0, 1], [1, 2]])
    e = energy.simple_spring_bond(d, bonds, bond_types=jnp.array([0, 1]), length=jnp.array([1.0, 1.0]),
                                  epsilon=jnp.array([2.0, 4.0]))
    np.testing.assert_allclose(e(R), 0.5 * 2.0 * 0.25 + 0.5 * 4.0 * 1.0)
    g = jax.grad(e)(R)
    np.testing.assert_allclose(g[0], [-2.0 * 0.5, 0.0])
    np.testing.assert_allclose(jnp.sum(g, 0), 0.0, atol=1e-12)


def test_dense_list_with_a_vector_pair_function_and_an_opaque_space(R):
    """A pair function of displacement vectors, and a space without the per-coordinate
    form (a wrapped displacement), give the all-pairs energy and forces."""
    d, _ = space.periodic(BOX)
    fn = lambda dR, k=1.0: jnp.where(space.dot(dR, dR) < 4.0, k * (4.0 - space.dot(dR, dR)) ** 2, 0.0)
    nbrs = partition.neighbor_list(d, BOX, 2.0).allocate(R)
    e_all = smap.pair(fn, d)
    for disp in (d, lambda a, b: d(a, b)):
        e_nl = smap.pair_neighbor_list(fn, disp)
        np.testing.assert_allclose(e_nl(R, nbrs), e_all(R), rtol=1e-12)
        np.testing.assert_allclose(jax.grad(e_nl)(R, nbrs), jax.grad(e_all)(R), atol=1e-10)
        np.testing.assert_allclose(smap.pair_neighbor_list(fn, disp, per_particle=True)(R, nbrs),
                                   smap.pair(fn, d, per_particle=True)(R), atol=1e-12)


def test_float32_jit_and_vmap(R):
    d, _ = space.periodic(BOX)
    neighbor_fn, e_nl = energy.lennard_jones_neighbor_list(d, BOX, r_onset=1.5, r_cutoff=2.0)
    R32 = R.astype(jnp.float32)
    nbrs = neighbor_fn.allocate(R32)
    batch = jnp.stack([R32, R32 + 0.01, R32 - 0.02])
    energies = jax.jit(jax.vmap(lambda r: e_nl(r, nbrs)))(batch)
    forces = jax.jit(jax.vmap(jax.grad(lambda r: e_nl(r, nbrs))))(batch)
    assert energies.dtype == jnp.float32 and forces.shape == batch.shape
    np.testing.assert_allclose(energies[0], e_nl(R, neighbor_fn.allocate(R)), rtol=1e-5)


def test_mismatched_species_and_parameters_raise(R):
    d, _ = space.periodic(BOX)
    n = R.shape[0]
    with pytest.raises(ValueError, match="species: has 10 entries but there are 64 particles"):
        energy.soft_sphere_pair(d, species=np.zeros(10, int))(R)
    with pytest.raises(ValueError, match=r"sigma: table is \(2, 2\) but species go up to 2"):
        energy.soft_sphere_pair(d, species=np.arange(n) % 3, sigma=jnp.ones((2, 2)))(R)
    with pytest.raises(TypeError, match="species: expected an integer dtype"):
        energy.soft_sphere_pair(d, species=np.zeros(n))
    with pytest.raises(ValueError, match=r"epsilon: expected a scalar, \[64\] per particle"):
        energy.soft_sphere_pair(d, epsilon=jnp.ones(7))(R)
    with pytest.raises(ValueError, match="sigma: must be positive"):
        energy.soft_sphere_pair(d, sigma=-1.0)
    with pytest.raises(ValueError, match="r_onset, r_cutoff"):
        energy.lennard_jones_pair(d, r_onset=3.0, r_cutoff=2.5)
    with pytest.raises(ValueError, match=r"bonds: expected shape \[b, 2\]"):
        energy.simple_spring_bond(d, jnp.zeros((3, 3), int))
    with pytest.raises(TypeError, match="neighbor: expected a NeighborList"):
        energy.soft_sphere_neighbor_list(d, BOX)[1](R, None)


@pytest.fixture(autouse=True, scope="module")
def _float64_for_this_module(x64_module):
    yield
