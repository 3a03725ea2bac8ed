"""Stillinger-Weber silicon: the published cohesive energy and pair minimum, the three-body
sum against a brute-force loop, forces against finite differences (float64), neighbour
list == all pairs (periodic and periodic_general), invariances, and errors for bad input."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gambol.physics import partition, quantity, space, three_body

SW = three_body.SILICON


@pytest.fixture(scope="module", autouse=True)
def _x64(x64_module):
    yield


@pytest.fixture(scope="module")
def crystal():
    """64-atom diamond silicon, perturbed by 0.1 Å, in its periodic box."""
    R, L = three_body.diamond_lattice(2)
    return jnp.asarray(R + 0.1 * np.random.RandomState(0).randn(*R.shape)), L


def test_cohesive_energy_of_diamond_is_published_value():
    # SW 1985: -2ε = -4.3366 eV/atom at the diamond lattice, a = 5.431 Å
    R, L = three_body.diamond_lattice(2, 5.431)
    d, _ = space.periodic(L)
    R = jnp.asarray(R)
    e_all = three_body.stillinger_weber_pair(d)(R) / len(R)
    neighbor_fn, e_nl = three_body.stillinger_weber_neighbor_list(d, L, dr_threshold=0.3)
    np.testing.assert_allclose(e_all, -4.3366, atol=2e-5)
    np.testing.assert_allclose(e_nl(R, neighbor_fn.allocate(R)) / len(R), -4.3366, atol=2e-5)


def test_pair_minimum_is_minus_epsilon_at_two_to_the_sixth_sigma():
    v2 = lambda r: three_body.stillinger_weber_two_body(r, SW["epsilon"], SW["sigma"], SW["A"], SW["B"],
                                                        SW["p"], SW["q"], SW["a"])
    r0 = 2 ** (1 / 6) * SW["sigma"]
    np.testing.assert_allclose(v2(r0), -SW["epsilon"], rtol=1e-6)
    np.testing.assert_allclose(jax.grad(v2)(r0), 0.0, atol=1e-6)
    np.testing.assert_allclose(v2(SW["a"] * SW["sigma"] + 1e-3), 0.0)


def _brute_force(R):
    """Eq. (2.2) term by term with Python loops: Σ_{i<j} v2 + Σ_i Σ_{j<k} v3 at centre i."""
    e, s, a = SW["epsilon"], SW["sigma"], SW["a"]
    n = len(R)

    def h(r):
        return np.exp(SW["gamma"] / (r / s - a)) if r < a * s else 0.0

    total = 0.0
    for i, j in itertools.combinations(range(n), 2):
        r = np.linalg.norm(R[i] - R[j])
        if r < a * s:
            x = r / s
            total += e * SW["A"] * (SW["B"] * x ** -4 - 1) * np.exp(1 / (x - a))
    for i in range(n):
        for j, k in itertools.combinations([m for m in range(n) if m != i], 2):
            u, v = R[j] - R[i], R[k] - R[i]
            ru, rv = np.linalg.norm(u), np.linalg.norm(v)
            cos = u @ v / (ru * rv)
            total += e * SW["lam"] * h(ru) * h(rv) * (cos + 1 / 3) ** 2
    return total


def test_energy_matches_brute_force_loops_on_a_distorted_cluster():
    rng = np.random.RandomState(1)
    R = three_body.diamond_lattice(1)[0] + 0.25 * rng.randn(8, 3)
    d, _ = space.free()
    np.testing.assert_allclose(three_body.stillinger_weber_pair(d)(jnp.asarray(R)), _brute_force(R), rtol=1e-10)


@pytest.mark.parametrize("space_name", ["periodic", "periodic_general"])
def test_neighbor_list_equals_all_pairs_and_forces_match_finite_differences(crystal, space_name):
    R, L = crystal
    if space_name == "periodic":
        d, _ = space.periodic(L)
        X, kw = R, dict(fractional_coordinates=False)
    else:   # a sheared triclinic box in fractional coordinates
        T = jnp.array([[L, 0.3, 0.0], [0.0, L, 0.2], [0.0, 0.0, L]])
        d, _ = space.periodic_general(T)
        X = jnp.linalg.solve(T, R.T).T % 1.0
        kw = dict(fractional_coordinates=True)
    e_all = three_body.stillinger_weber_pair(d)
    neighbor_fn, e_nl = three_body.stillinger_weber_neighbor_list(d, np.asarray(T) if space_name != "periodic"
                                                                  else L, dr_threshold=0.3, **kw)
    nbrs = neighbor_fn.allocate(X)
    np.testing.assert_allclose(e_nl(X, nbrs), e_all(X), rtol=1e-12)
    F = quantity.force(e_nl)(X, neighbor=nbrs)
    np.testing.assert_allclose(F, quantity.force(e_all)(X), atol=1e-10)
    np.testing.assert_allclose(jnp.sum(F, 0), 0.0, atol=1e-10)          # Newton's third law
    # central differences in real space (fractional steps T⁻¹ h e_k for periodic_general)
    h, entries = 1e-5, [(0, 0), (5, 1), (17, 2), (40, 0), (63, 1)]
    for i, k in entries:
        step = jnp.zeros(3).at[k].set(h)
        if space_name == "periodic_general":
            step = jnp.linalg.solve(T, step)
        fd = -(e_all(X.at[i].add(step)) - e_all(X.at[i].add(-step))) / (2 * h)
        np.testing.assert_allclose(F[i, k], fd, rtol=1e-6, atol=1e-7)


def test_translation_and_rotation_invariance(crystal):
    R, _ = crystal
    R = R[:24]                                   # a free cluster
    d, _ = space.free()
    e = three_body.stillinger_weber_pair(d)
    Q, _ = np.linalg.qr(np.random.RandomState(2).randn(3, 3))
    e0 = e(R)
    np.testing.assert_allclose(e(R + jnp.array([3.0, -1.0, 7.5])), e0, rtol=1e-12)
    np.testing.assert_allclose(e(R @ Q.T), e0, rtol=1e-12)
    np.testing.assert_allclose(e(R[::-1]), e0, rtol=1e-12)          # relabelling


def test_bad_input_raises(crystal):
    R, L = crystal
    d, _ = space.periodic(L)
    neighbor_fn, e_nl = three_body.stillinger_weber_neighbor_list(d, L, dr_threshold=0.3)
    nbrs = neighbor_fn.allocate(R)
    with pytest.raises(ValueError, match="R: expected positions of shape"):
        e_nl(R[None], nbrs)
    with pytest.raises(ValueError, match="neighbor: built for 64 particles"):
        e_nl(R[:10], nbrs)
    short = three_body.neighbor_list(d, L, 3.0, 0.2).allocate(R)
    with pytest.raises(ValueError, match="neighbor: the list's cutoff .* is smaller"):
        e_nl(R, short)
    sparse = partition.neighbor_list(d, L, 4.0, format=partition.Sparse).allocate(R)
    with pytest.raises(ValueError, match="format=Dense"):
        e_nl(R, sparse)
    with pytest.raises(TypeError, match="unknown parameters"):
        three_body.stillinger_weber_pair(d, lamda=20.0)
