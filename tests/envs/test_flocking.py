"""The flocking energy model: locality, neighbour list vs all pairs, stop-gradient
semantics, the forward-Euler update, the behaviour each term is for, metrics,
gradients of a flock metric with respect to energy parameters, the predators'
sprint clock, and fidelity to the JAX MD notebook's own model (a fixture made by
benchmarks/_flock_notebook.py in jax-md's venv)."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gambol import envs
from gambol.envs import flocking as fl

KEY = jax.random.PRNGKey(5)
DISP, SHIFT = fl.periodic_space(200.0)


def _flock(n=30, L=200.0, key=KEY):
    k1, k2 = jax.random.split(key)
    return fl.Agents(jax.random.uniform(k1, (n, 2), maxval=L), jax.random.uniform(k2, (n,), maxval=6.28))


def _params(**kw):
    pos, rad = fl.random_obstacles(jax.random.PRNGKey(1), 2, 200.0, (10.0, 30.0))
    return fl.FlockParams(obstacle_position=pos, obstacle_radius=rad, **kw)


def test_rho_is_the_published_cutoff_function():
    r = jnp.array([0.0, 15.0, 30.0, 45.0])
    np.testing.assert_allclose(fl.rho(r, 30.0, 3.0), [(1 / 3), (0.5 ** 3) / 3, 0.0, 0.0], rtol=1e-6)
    assert jax.grad(lambda x: fl.rho(x, 30.0, 3.0))(40.0) == 0


def test_neighbor_list_energy_and_forces_match_all_pairs():
    boids, preds = _flock(), _flock(3, key=jax.random.PRNGKey(9))
    p = _params()
    nbrs = envs.make("boids", num_boids=30, box_size=200.0, max_neighbors=8).neighbor_fn.allocate(boids.position)
    assert nbrs.idx.shape[1] < 29                         # a real list, not every other boid
    full = jnp.asarray(fl.all_pairs_idx(30))
    energy = jax.jit(lambda idx: fl.total_energy(p, DISP, boids, idx, preds))
    e_list, e_full = energy(nbrs.idx), energy(full)
    np.testing.assert_allclose(e_list, e_full, rtol=1e-5)
    grad = jax.jit(lambda idx: fl.forces(p, DISP, boids, idx, preds))
    g_list, g_full = grad(nbrs.idx), grad(full)
    jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5), g_list, g_full)
    assert e_full > 0


def test_alignment_and_cohesion_only_turn_while_avoidance_only_moves():
    boids = _flock()
    idx = jnp.asarray(fl.all_pairs_idx(30))
    off = dict(align_strength=0.0, avoid_strength=0.0, cohesion_strength=0.0)
    for term, moves, turns in [("align_strength", False, True), ("cohesion_strength", False, True),
                               ("avoid_strength", True, False)]:
        p = fl.FlockParams(**{**off, term: 10.0})
        f, _ = fl.forces(p, DISP, boids, idx)
        assert bool(jnp.any(f.position != 0)) == moves, term
        assert bool(jnp.any(f.theta != 0)) == turns, term


def test_cohesion_turns_a_boid_toward_its_neighbours_centre():
    # boid 0 heads along +x; its neighbours sit ahead and to its left (+y), in view
    R = jnp.array([[100.0, 100.0], [120.0, 110.0], [125.0, 115.0]])
    theta = jnp.array([0.0, 0.0, 0.0])
    p = fl.FlockParams(align_strength=0.0, avoid_strength=0.0)
    f, _ = fl.forces(p, DISP, fl.Agents(R, theta), jnp.asarray(fl.all_pairs_idx(3)))
    assert f.theta[0] > 0          # theta grows: the boid turns left, toward the others


def test_obstacle_energy_is_lowest_facing_away_and_zero_outside():
    p = fl.FlockParams(obstacle_position=jnp.array([[100.0, 100.0]]), obstacle_radius=jnp.array([30.0]))
    R = jnp.array([[80.0, 100.0], [10.0, 10.0]])
    idx = jnp.full((2, 1), 2)
    def e(theta):
        return fl.boid_energies(p, DISP, fl.Agents(R, theta), idx)["obstacle"]
    toward, away = e(jnp.array([0.0, 0.0])), e(jnp.array([jnp.pi, 0.0]))
    assert toward[0] > 0 and away[0] < 1e-6 * toward[0] and toward[1] == 0
    # J_o (1 - r/D)^2 (1 + N.d_hat)^2 with r = 20, D = 30, facing the centre
    np.testing.assert_allclose(toward[0], 1000 * (1 - 20 / 30) ** 2 * 4, rtol=1e-5)


def test_boids_flee_predators_and_predators_chase_boids():
    boids = fl.Agents(jnp.array([[100.0, 100.0]]), jnp.array([0.3]))        # heading roughly at the predator
    preds = fl.Agents(jnp.array([[140.0, 100.0]]), jnp.array([jnp.pi / 2]))  # heading up; the boid is to its left
    p = fl.FlockParams(fov_angle=jnp.pi)
    fb, fq = fl.forces(p, DISP, boids, jnp.full((1, 1), 1), preds)
    assert fb.position[0, 0] < 0          # pushed away from the predator (-x)
    assert fb.theta[0] > 0                # turns further away (theta grows past 0.3)
    assert fq.theta[0] > 0                # the predator turns left, toward the boid
    assert np.all(fq.position == 0)       # boids do not pull predators


def test_step_is_forward_euler_on_the_total_energy():
    env = envs.make("boids", num_boids=20, num_predators=2, num_obstacles=2, box_size=200.0, neighbor_list=False,
                    capture_radius=0.0)   # no respawns in this step
    state = env.reset(KEY)
    s, p = state.pipeline_state, env.params
    # the force: dE/d(agents) with the geometry held at the current positions, by hand
    geometry = (s.boids.position, s.predators.position)
    gb, gq = jax.jit(jax.grad(lambda b, q: fl.total_energy(p, env.displacement, b, env._all_pairs, q, geometry),
                              argnums=(0, 1)))(s.boids, s.predators)
    nxt = jax.jit(env.step)(state).pipeline_state
    want_R = jnp.mod(s.boids.position + p.dt * (p.speed * fl.heading(s.boids.theta) - gb.position), 200.0)
    np.testing.assert_allclose(nxt.boids.position, want_R, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(nxt.boids.theta, s.boids.theta - p.dt * gb.theta, rtol=1e-5, atol=1e-6)
    assert np.all(s.since_sprint == 0) and np.all(nxt.since_sprint == np.float32(p.dt))  # no restart at t = 0
    speed = p.predator_speed + p.sprint_speed * jnp.exp(-nxt.since_sprint / p.sprint_decay)  # this step's clock
    want_Q = jnp.mod(s.predators.position + p.dt * (speed[:, None] * fl.heading(s.predators.theta) - gq.position), 200.0)
    np.testing.assert_allclose(nxt.predators.position, want_Q, rtol=1e-5, atol=1e-4)


def test_predators_sprint_when_a_boid_is_near_and_the_last_sprint_is_old():
    p = fl.FlockParams()
    boids = fl.Agents(jnp.array([[100.0, 100.0]]), jnp.zeros(1))
    preds = fl.Agents(jnp.array([[150.0, 100.0], [100.0, 150.0], [10.0, 10.0]]), jnp.zeros(3))
    since = jnp.array([400.0, 100.0, 400.0])
    out = fl.update_sprint(p, DISP, preds, boids, since)
    np.testing.assert_allclose(out, [0.0, 100.1, 400.1], rtol=1e-6)
    assert fl.sprint_speed(p, jnp.zeros(())) == pytest.approx(2.85)


def test_alignment_brings_two_headings_together():
    env = envs.make("boids", num_boids=2, box_size=200.0, neighbor_list=False,
                    avoid_strength=0.0, cohesion_strength=0.0, fov_angle=np.pi)
    state = env.reset(KEY)
    s = state.pipeline_state
    boids = fl.Agents(jnp.array([[100.0, 100.0], [110.0, 100.0]]), jnp.array([0.0, 1.0]))
    state = state.replace(pipeline_state=s.replace(boids=boids))
    step = jax.jit(env.step)
    for _ in range(50):
        state = step(state)
    th = state.pipeline_state.boids.theta
    assert abs(float(th[1] - th[0])) < 0.2
    assert state.metrics["polarization"] > 0.99


def test_metrics_against_brute_force():
    env = envs.make("boids", num_boids=25, box_size=120.0)
    state = env.reset(KEY)
    s = state.pipeline_state
    R, th = np.asarray(s.boids.position), np.asarray(s.boids.theta)
    d = R[:, None] - R[None]
    d -= 120.0 * np.round(d / 120.0)
    r = np.linalg.norm(d, axis=-1) + np.diag(np.full(25, np.inf))
    np.testing.assert_allclose(state.metrics["nearest_neighbor_distance"],
                               np.mean(np.minimum(r.min(1), env.cutoff)), rtol=1e-5)
    assert state.metrics["collisions"] == np.sum(r < 10.0) / 2
    np.testing.assert_allclose(state.metrics["polarization"],
                               np.hypot(np.cos(th).mean(), np.sin(th).mean()), rtol=1e-5)


@pytest.mark.usefixtures("x64")
def test_gradient_of_final_polarization_matches_finite_differences():
    env = envs.make("boids", num_boids=8, box_size=100.0, neighbor_list=False)
    state = env.reset(KEY)
    state = jax.tree_util.tree_map(lambda x: x.astype(jnp.float64)
                                   if jnp.issubdtype(x.dtype, jnp.floating) else x, state)

    @jax.jit
    def final_polarization(align_strength):
        e = env.with_params(env.params.replace(align_strength=align_strength))
        out = jax.lax.scan(lambda s, _: (e.step(s), None), state, None, length=20)[0]
        return out.metrics["polarization"]

    g = jax.grad(final_polarization)(12.0)
    eps = 1e-5
    fd = (final_polarization(12.0 + eps) - final_polarization(12.0 - eps)) / (2 * eps)
    np.testing.assert_allclose(g, fd, rtol=1e-4)
    assert g != 0


def test_cohesion_can_use_neighbours_outside_the_field_of_view():
    # boid 0 heads along +x; its only neighbour is behind it, out of a 60 degree field of view
    R = jnp.array([[100.0, 100.0], [85.0, 110.0]])
    boids = fl.Agents(R, jnp.array([0.0, 0.0]))
    idx = jnp.asarray(fl.all_pairs_idx(2))
    only = dict(align_strength=0.0, avoid_strength=0.0)
    f_fov, _ = fl.forces(fl.FlockParams(**only), DISP, boids, idx)
    f_all, _ = fl.forces(fl.FlockParams(cohesion_fov_angle=jnp.pi, **only), DISP, boids, idx)
    assert f_fov.theta[0] == 0            # unseen: no cohesion
    assert f_all.theta[0] > 0             # seen: turns left, toward the neighbour


@pytest.mark.usefixtures("x64")
def test_sprint_clock_counts_as_the_notebook_and_a_sprint_moves_the_predator_the_same_step():
    # three predators 20 apart from boid 0 / far from both / 20 from boid 1; no obstacles, so a
    # predator's only force is a turn and it moves exactly dt * (v_p + v_s exp(-t / tau)) per step
    env = envs.make("boids", num_boids=2, num_predators=3, box_size=400.0, neighbor_list=False,
                    capture_radius=0.0)
    p = env.params
    state = env.reset(KEY)
    s = state.pipeline_state
    np.testing.assert_array_equal(s.since_sprint, 0.0)           # the notebook's clock starts at 0, mid-sprint
    boids = fl.Agents(jnp.array([[100.0, 100.0], [300.0, 300.0]]), jnp.array([0.0, 1.0]))
    preds = fl.Agents(jnp.array([[100.0, 120.0], [200.0, 20.0], [300.0, 320.0]]), jnp.array([0.5, 2.0, 4.0]))
    state = state.replace(pipeline_state=s.replace(boids=boids, predators=preds))
    step = jax.jit(env.step)

    def moved(before, after):
        return np.linalg.norm(np.asarray(after.pipeline_state.predators.position
                                         - before.pipeline_state.predators.position), axis=1)

    def speed(t):
        return p.predator_speed + p.sprint_speed * np.exp(-np.asarray(t) / p.sprint_decay)

    one = step(state)                                             # first step: t = 0 -> dt, no restart yet
    np.testing.assert_allclose(one.pipeline_state.since_sprint, [p.dt] * 3, rtol=1e-12)
    np.testing.assert_allclose(moved(state, one), p.dt * speed(p.dt), rtol=1e-9)
    assert moved(state, one)[0] > p.dt * 2.8                      # near a boid from the start: sprinting
    # past the interval: the near predators restart at t = 0 and run at v_p + v_s in that same step
    old = np.array([p.sprint_interval + 0.05, p.sprint_interval + 0.05, 100.0])
    late = one.replace(pipeline_state=one.pipeline_state.replace(since_sprint=jnp.asarray(old)))
    two = step(late)
    want_t = [0.0, old[1] + p.dt, old[2] + p.dt]                  # far from every boid / not yet rested
    np.testing.assert_allclose(two.pipeline_state.since_sprint, want_t, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(moved(late, two), p.dt * speed(want_t), rtol=1e-9)
    np.testing.assert_allclose(moved(late, two)[0], p.dt * (p.predator_speed + p.sprint_speed), rtol=1e-9)


NOTEBOOK = os.path.join(os.path.dirname(__file__), "data", "flock_notebook.npz")


@pytest.mark.usefixtures("x64")
def test_boids_follow_the_jax_md_notebook_from_its_own_initial_state():
    """gambol's `boids` (neighbour list, float64) from the notebook's initial state (200 boids,
    box 800) keeps |polarization - the notebook model's| < 0.01 for 3,000 steps. Measured:
    6.1e-10 at most (float64 on both sides; the trajectories are chaotic, but 1e-16 round-off
    grows only to ~1e-9 by step 3,000, so the bound holds on any CPU)."""
    ref = np.load(NOTEBOOK)
    R, theta, box = ref["position"], ref["theta"], float(ref["box"])
    assert R.shape == (200, 2) and R.dtype == np.float64 and box == 800.0
    np.testing.assert_allclose(ref["polarization"][0], np.hypot(np.cos(theta).mean(), np.sin(theta).mean()),
                               rtol=1e-12)                         # the fixture starts where it says
    env = envs.make("boids", num_boids=200, box_size=box)
    assert env.template is not None and float(env.params.dt) == float(ref["dt"])   # a real neighbour list
    state = env.reset(KEY)
    boids = fl.Agents(jnp.asarray(R), jnp.asarray(theta))
    state = state.replace(pipeline_state=state.pipeline_state.replace(
        boids=boids, nbrs=env.neighbor_fn.rebuild(boids.position, env.template)))

    def body(s, _):
        s = env.step(s)
        return s, (fl.polarization(s.pipeline_state.boids.theta), s.metrics["overflow"])

    steps = len(ref["polarization"]) - 1
    _, (pol, overflow) = jax.jit(lambda s: jax.lax.scan(body, s, None, length=steps))(state)
    assert steps == 3000 and pol.dtype == jnp.float64 and not np.any(overflow)
    diff = np.abs(np.asarray(pol) - ref["polarization"][1:])
    assert diff.max() < 0.01, (int(diff.argmax()) + 1, float(diff.max()))
    assert ref["polarization"][-1] > 3 * ref["polarization"][0]     # the flock did order: a real comparison
