"""Integrators and minimisers: NVE energy drift and its dt² scaling, Langevin and
Brownian statistics against their exact values, FIRE to the known LJ₁₃ minimum."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gambol.physics import energy, minimize, partition, quantity, simulate, smap, space



def lattice(n_side, dim, box):
    g = np.stack(np.meshgrid(*[np.arange(n_side)] * dim, indexing="ij"), -1).reshape(-1, dim)
    return jnp.asarray((g + 0.5) * box / n_side)


def nve_drift(dt, total_time=2.0):
    """Max |E(t) - E(0)| / n for a 125-particle LJ fluid (density 0.8, kT 1) with a Dense
    neighbour list updated every step."""
    n_side, density = 5, 0.8
    box = quantity.box_size_at_number_density(n_side**3, density, 3)
    d, shift = space.periodic(box)
    neighbor_fn, e = energy.lennard_jones_neighbor_list(d, box, r_onset=2.0, r_cutoff=2.5, dr_threshold=0.1)
    R = lattice(n_side, 3, box)
    nbrs = neighbor_fn.allocate(R, extra_capacity=8)
    init, apply = simulate.nve(e, shift, dt=dt)
    state = init(jax.random.PRNGKey(0), R, kT=1.0, neighbor=nbrs)

    def total(s, nb):
        return e(s.position, nb) + quantity.kinetic_energy(momentum=s.momentum, mass=s.mass)

    @functools.partial(jax.jit, static_argnums=2)
    def run(state, nbrs, steps):
        def body(carry, _):
            s, nb = carry
            nb = nb.update(s.position)
            s = apply(s, neighbor=nb)
            return (s, nb), total(s, nb)
        return jax.lax.scan(body, (state, nbrs), None, length=steps)

    # equilibrate, then measure
    (state, nbrs), _ = run(state, nbrs, int(0.5 / dt))
    assert not bool(nbrs.did_buffer_overflow)
    E0 = total(state, nbrs)
    (state, nbrs), E = run(state, nbrs, int(total_time / dt))
    assert not bool(nbrs.did_buffer_overflow)
    return float(jnp.max(jnp.abs(E - E0))) / n_side**3


@pytest.fixture(scope="module")
def drifts():
    return nve_drift(0.004), nve_drift(0.002)


def test_nve_energy_is_conserved_and_error_scales_as_dt_squared(drifts):
    coarse, fine = drifts
    assert coarse < 5e-3  # per particle, in units of ε, over 2 τ
    ratio = coarse / fine
    assert 2.5 < ratio < 6.0, ratio  # velocity Verlet: energy error ∝ dt²


def harmonic_well(k=2.0):
    def e(R):
        return 0.5 * k * jnp.sum(R**2)
    return e


def test_langevin_reaches_target_temperature_and_equipartition():
    kT, k, n = 0.7, 2.0, 400
    d, shift = space.free()
    init, apply = simulate.nvt_langevin(harmonic_well(k), shift, dt=0.05, kT=kT, gamma=1.0)
    state = init(jax.random.PRNGKey(1), jnp.zeros((n, 2)), kT=3.0)  # start hot

    @jax.jit
    def run(state):
        def body(s, _):
            s = apply(s)
            return s, (quantity.temperature(momentum=s.momentum, mass=s.mass), jnp.mean(s.position**2))
        return jax.lax.scan(body, state, None, length=2000)

    _, (T, x2) = run(state)
    T, x2 = np.asarray(T[500:]), np.asarray(x2[500:])
    # samples are correlated over ~1/γ = 20 steps; 1500 steps ≈ 75 independent samples,
    # each the mean of 800 dofs: σ_T ≈ kT sqrt(2/800) / sqrt(75)
    sigma = kT * np.sqrt(2 / (n * 2)) / np.sqrt(75)
    assert abs(T.mean() - kT) < 4 * sigma + 0.01 * kT, (T.mean(), kT)
    # configurational equipartition: <x²> = kT / k (BAOAB is exact for the harmonic well up to O(dt²))
    assert abs(x2.mean() - kT / k) < 0.03 * kT / k, (x2.mean(), kT / k)


def test_brownian_diffusion_and_equilibrium():
    kT, gamma, dt, n = 0.5, 2.0, 0.01, 2000
    d, shift = space.free()
    zero = lambda R: 0.0 * jnp.sum(R)
    init, apply = simulate.brownian(zero, shift, dt=dt, kT=kT, gamma=gamma)
    state = init(jax.random.PRNGKey(2), jnp.zeros((n, 3)))
    steps = 200
    state = jax.jit(lambda s: jax.lax.fori_loop(0, steps, lambda i, s: apply(s), s))(state)
    msd = float(jnp.mean(jnp.sum(state.position**2, -1)))
    expected = 2 * 3 * kT / gamma * steps * dt  # ⟨r²⟩ = 2 d D t, D = kT/γ
    assert abs(msd - expected) < 4 * expected * np.sqrt(2 / (3 * n)), (msd, expected)
    # in a harmonic well the stationary spread is <x²> = kT/k
    init, apply = simulate.brownian(harmonic_well(4.0), shift, dt=dt, kT=kT, gamma=gamma)
    state = init(jax.random.PRNGKey(3), jnp.zeros((n, 3)))
    state = jax.jit(lambda s: jax.lax.fori_loop(0, 1000, lambda i, s: apply(s), s))(state)
    np.testing.assert_allclose(float(jnp.mean(state.position**2)), kT / 4.0, rtol=0.06)


def icosahedron13():
    phi = (1 + 5**0.5) / 2
    v = []
    for a in (-1, 1):
        for b in (-phi, phi):
            v += [(0, a, b), (a, b, 0), (b, 0, a)]
    v = np.array(v, float)
    v = v / np.linalg.norm(v[0]) * 1.1
    return np.vstack([np.zeros(3), v])


def test_fire_finds_the_lj13_minimum():
    d, shift = space.free()
    e = smap.pair(energy.lennard_jones, space.canonicalize_displacement_or_metric(d))
    R0 = jnp.asarray(icosahedron13() + 0.05 * np.random.RandomState(4).randn(13, 3))
    init, apply = minimize.fire_descent(e, shift, dt_start=0.005, dt_max=0.05)  # LJ time scale
    state = jax.jit(lambda s: jax.lax.fori_loop(0, 2000, lambda i, s: apply(s), s))(init(R0))
    # Wales & Doye (1997): the LJ13 global minimum (Mackay icosahedron) is -44.326801 ε
    np.testing.assert_allclose(e(state.position), -44.326801, atol=1e-5)
    assert float(jnp.max(jnp.abs(state.force))) < 1e-5
    # gradient descent lowers the energy every step from the same start (small step)
    init_gd, apply_gd = minimize.gradient_descent(e, shift, step_size=1e-3)
    R, E = R0, [float(e(R0))]
    for _ in range(20):
        R = apply_gd(R)
        E.append(float(e(R)))
    assert np.all(np.diff(E) < 0)


def test_integrators_accept_forces_and_neighbor_kwargs_under_vmap():
    box = 6.0
    d, shift = space.periodic(box)
    neighbor_fn, e = energy.soft_sphere_neighbor_list(d, box, sigma=1.0)
    R = lattice(4, 2, box).astype(jnp.float32)
    nbrs = neighbor_fn.allocate(R)
    force = quantity.force(e)
    for fn in (e, force):
        init, apply = simulate.nve(fn, shift, dt=0.01)
        keys = jax.random.split(jax.random.PRNGKey(0), 3)
        states = jax.vmap(lambda k: init(k, R, kT=0.5, neighbor=nbrs))(keys)
        states = jax.jit(jax.vmap(lambda s: apply(s, neighbor=nbrs)))(states)
        assert states.position.shape == (3, 16, 2) and states.position.dtype == jnp.float32
    with pytest.raises(ValueError, match="R: expected positions"):
        init(jax.random.PRNGKey(0), jnp.zeros(5))
    with pytest.raises(ValueError, match="mass"):
        init(jax.random.PRNGKey(0), R, mass=jnp.ones(3), neighbor=nbrs)


def test_quantities():
    P = jnp.array([[1.0, 0.0], [0.0, 2.0], [3.0, 0.0]])
    m = jnp.array([1.0, 2.0, 3.0])
    K = quantity.kinetic_energy(momentum=P, mass=m)
    np.testing.assert_allclose(K, 0.5 * (1.0 + 4.0 / 2 + 9.0 / 3))
    np.testing.assert_allclose(quantity.temperature(momentum=P, mass=m), 2 * K / 6)
    np.testing.assert_allclose(quantity.kinetic_energy(velocity=P / m[:, None], mass=m), K)
    np.testing.assert_allclose(quantity.center_of_mass(P, m), [(1 + 9) / 6, 4 / 6])
    with pytest.raises(ValueError, match="exactly one"):
        quantity.kinetic_energy(momentum=P, velocity=P)
    d, _ = space.periodic(10.0)
    R = jnp.array([[0.5, 0.5], [9.5, 0.5], [5.0, 5.0]])
    np.testing.assert_allclose(quantity.nearest_neighbor_distance(d, R), [1.0, 1.0, np.hypot(4.5, 4.5)])
    np.testing.assert_allclose(quantity.volume(3, jnp.array([[2.0, 1.0, 0], [0, 3.0, 0], [0, 0, 4.0]])), 24.0)


@pytest.fixture(autouse=True, scope="module")
def _float64_for_this_module(x64_module):
    yield
