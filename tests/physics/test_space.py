"""Spaces: displacements against brute-force images, shifts, periodic_general and its
box derivatives, and the errors for bad input."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gambol.physics import energy, quantity, space



def brute_min_image(a, b, T):
    """Shortest real-space image of a - b over all neighbouring lattice translations."""
    dim = len(a)
    best = None
    for n in itertools.product((-2, -1, 0, 1, 2), repeat=dim):
        d = T @ (a - b + np.array(n))
        if best is None or np.linalg.norm(d) < np.linalg.norm(best):
            best = d
    return best


def test_free_displacement_and_shift():
    d, s = space.free()
    a, b = jnp.array([1.0, 2.0, 3.0]), jnp.array([0.5, -1.0, 4.0])
    np.testing.assert_allclose(d(a, b), a - b)
    np.testing.assert_allclose(s(a, b), a + b)


@pytest.mark.parametrize("side", [5.0, np.array([3.0, 7.0])])
def test_periodic_minimum_image_matches_brute_force(side):
    rng = np.random.RandomState(0)
    dim = 2
    sides = np.broadcast_to(side, (dim,))
    d, s = space.periodic(side)
    T = np.diag(sides)
    for _ in range(50):
        a, b = rng.rand(dim) * sides, rng.rand(dim) * sides
        np.testing.assert_allclose(d(jnp.asarray(a), jnp.asarray(b)),
                                   brute_min_image(a / sides, b / sides, T), atol=1e-12)
    # shift wraps into the box
    R = jnp.asarray(rng.rand(10, dim) * sides)
    out = s(R, jnp.asarray(rng.randn(10, dim) * 20))
    assert np.all(out >= 0) and np.all(out < sides)


def test_periodic_general_triclinic_matches_brute_force():
    T = np.array([[4.0, 1.0, 0.5], [0.0, 5.0, 0.8], [0.0, 0.0, 4.5]])
    d, s = space.periodic_general(T)
    rng = np.random.RandomState(1)
    for _ in range(40):
        ua, ub = rng.rand(3), rng.rand(3)
        got = np.asarray(d(jnp.asarray(ua), jnp.asarray(ub)))
        ref = brute_min_image(ua, ub, T)
        # minimum image through fractional rounding is exact when the result is short
        if np.linalg.norm(ref) < 0.5 * 4.0:
            np.testing.assert_allclose(got, ref, atol=1e-12)
    # shift by a real-space vector moves the real position by exactly that vector
    u = jnp.asarray(rng.rand(3) * 0.5 + 0.25)
    dR = jnp.array([0.1, -0.2, 0.05])
    np.testing.assert_allclose(T @ s(u, dR) - T @ u, dR, atol=1e-12)


def _soft_energy_general(T):
    d, _ = space.periodic_general(T)
    return energy.soft_sphere_pair(d, sigma=1.3)


@pytest.fixture(scope="module")
def fluid():
    rng = np.random.RandomState(2)
    L = 6.0
    u = jnp.asarray(rng.rand(40, 3))
    return L, u


def test_periodic_general_equals_periodic_for_orthorhombic_box(fluid):
    L, u = fluid
    e_gen = _soft_energy_general(L)
    d, _ = space.periodic(L)
    e_per = energy.soft_sphere_pair(d, sigma=1.3)
    np.testing.assert_allclose(e_gen(u), e_per(u * L), rtol=1e-12)
    # forces: the gradient in fractional coordinates is the real-space gradient
    np.testing.assert_allclose(jax.grad(e_gen)(u), jax.grad(e_per)(u * L), atol=1e-12)


def test_uniform_box_scaling(fluid):
    """E(u; sT) equals the energy of real positions s·T·u in a box of side s·L, and is
    unchanged under a rigid translation of the fractional coordinates."""
    L, u = fluid
    e_gen = _soft_energy_general(L)
    for scale in (0.9, 1.0, 1.15):
        d, _ = space.periodic(L * scale)
        ref = energy.soft_sphere_pair(d, sigma=1.3)(u * L * scale)
        np.testing.assert_allclose(e_gen(u, box=L * scale), ref, rtol=1e-12)
    shifted = jnp.mod(u + jnp.array([0.3, 0.71, 0.05]), 1.0)
    np.testing.assert_allclose(e_gen(shifted), e_gen(u), rtol=1e-11)


def test_box_derivative_matches_finite_differences_and_virial(fluid):
    L, u = fluid
    T = jnp.array([[L, 0.4, 0.2], [0.0, L * 1.1, 0.3], [0.0, 0.0, L * 0.95]])
    e_gen = _soft_energy_general(T)
    g = jax.grad(lambda box: e_gen(u, box=box))(T)
    h = 1e-6
    for i, j in [(0, 0), (0, 1), (1, 2), (2, 2), (1, 1)]:
        dT = jnp.zeros((3, 3)).at[i, j].set(h)
        fd = (e_gen(u, box=T + dT) - e_gen(u, box=T - dT)) / (2 * h)
        np.testing.assert_allclose(g[i, j], fd, rtol=1e-6, atol=1e-9)
    # virial: for a scalar box, L dE/dL = Σ_pairs r φ'(r) = -Σ_i R_i · F_i (pair sum)
    e_scalar = _soft_energy_general(L)
    dEdL = jax.grad(lambda box: e_scalar(u, box=box))(L)
    d, _ = space.periodic(L)
    dr = space.map_pair(d)(u * L, u * L)
    r = space.distance(dr)
    dphi = jax.vmap(jax.vmap(jax.grad(lambda x: energy.soft_sphere(x, sigma=1.3))))(jnp.where(r > 0, r, 1.0))
    virial = 0.5 * jnp.sum(jnp.where(r > 0, r * dphi, 0.0))
    np.testing.assert_allclose(L * dEdL, virial, rtol=1e-10)


def test_pressure_of_ideal_gas_and_fd():
    L = 5.0
    d, _ = space.periodic_general(L)
    u = jnp.asarray(np.random.RandomState(3).rand(30, 3))
    zero = lambda R, box=None: 0.0 * jnp.sum(R) + 0.0 * jnp.sum(box)
    K = 45.0  # ⇒ kT = 2K/(n·dim) = 1
    np.testing.assert_allclose(quantity.pressure(zero, u, L, kinetic=K), 30 * 1.0 / L**3, rtol=1e-12)
    e = energy.soft_sphere_pair(d, sigma=1.5)
    P = quantity.pressure(e, u, L)
    h = 1e-6
    V = lambda l: l**3
    fd = -(e(u, box=L + h) - e(u, box=L - h)) / (V(L + h) - V(L - h))
    np.testing.assert_allclose(P, fd, rtol=1e-6)


def test_distance_gradient_is_zero_not_nan_at_origin():
    g = jax.grad(lambda x: space.distance(x))(jnp.zeros(3))
    assert np.all(np.isfinite(g)) and np.allclose(g, 0)


@pytest.mark.parametrize("make, dim", [(space.free, 3), (lambda: space.periodic(5.0), 3),
                                       (lambda: space.periodic(np.array([3.0, 7.0])), 2)],
                         ids=["free", "periodic", "periodic_sides"])
def test_by_component_form_equals_the_displacement_and_metric(make, dim):
    d, _ = make()
    rng = np.random.RandomState(3)
    Ra, Rb = jnp.asarray(rng.randn(6, dim) * 4), jnp.asarray(rng.randn(6, 5, dim) * 4)
    want = space.map_neighbor(d)(Ra, Rb)                              # [6, 5, dim]
    got = space.by_component(d)([Ra[:, c, None] for c in range(dim)],
                                [Rb[..., c] for c in range(dim)])
    np.testing.assert_allclose(jnp.stack(got, -1), want, atol=1e-12)
    metric = space.canonicalize_displacement_or_metric(d)
    np.testing.assert_allclose(space.by_component(metric)([Ra[:, c, None] for c in range(dim)],
                                                          space.gather_components(Rb.reshape(-1, dim),
                                                                                  jnp.arange(30).reshape(6, 5))),
                               space.map_neighbor(metric)(Ra, Rb), atol=1e-12)


def test_by_component_form_only_where_coordinates_are_independent():
    d, _ = space.periodic_general(np.array([[4.0, 1.0], [0.0, 4.0]]))
    assert space.by_component(d) is None
    assert space.by_component(space.canonicalize_displacement_or_metric(d)) is None
    with pytest.raises(ValueError, match="side"):
        space.by_component(space.periodic(np.array([3.0, 7.0]))[0])([jnp.zeros(2)] * 3, [jnp.ones(2)] * 3)


@pytest.mark.parametrize("bad, match", [
    (lambda: space.periodic(-1.0), "side"),
    (lambda: space.periodic(0.0), "side"),
    (lambda: space.periodic(np.ones(4)), "side"),
    (lambda: space.periodic_general(np.array([[1.0, 0.0], [2.0, 0.0]])), "box"),
    (lambda: space.periodic_general(-np.eye(3)), "box"),
])
def test_bad_boxes_raise_naming_the_argument(bad, match):
    with pytest.raises(ValueError, match=match):
        bad()


def test_wrong_spatial_dimension_raises():
    d, _ = space.periodic(jnp.array([2.0, 3.0, 4.0]))
    with pytest.raises(ValueError, match="dimension"):
        d(jnp.zeros(2), jnp.ones(2))
    d, _ = space.free()
    with pytest.raises(ValueError, match="same shape"):
        d(jnp.zeros(2), jnp.ones(3))
    d, _ = space.periodic(3.0)
    with pytest.raises(TypeError, match="periodic_general"):
        d(jnp.zeros(2), jnp.ones(2), box=2.0)


@pytest.fixture(autouse=True, scope="module")
def _float64_for_this_module(x64_module):
    yield
