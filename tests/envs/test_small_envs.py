"""The three small envs against the physics they claim: gymnasium's Pendulum-v1
step for step, a point mass under constant force, and tag's captures and
minimum-image observations."""

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gambol import envs

KEY = jax.random.PRNGKey(3)


def test_pendulum_matches_gymnasium_pendulum_v1_step_for_step():
    env = envs.make("pendulum")
    step = jax.jit(env.step)
    ref = gymnasium.make("Pendulum-v1").unwrapped
    ref.reset(seed=0)
    state = env.reset(KEY)
    ref.state = np.array([float(state.pipeline_state.theta), float(state.pipeline_state.theta_dot)])
    actions = np.random.default_rng(0).uniform(-1.2, 1.2, size=(60, 1)).astype(np.float32)
    for a in actions:
        obs, reward, *_ = ref.step(2.0 * np.clip(a, -1, 1))
        state = step(state, a)
        np.testing.assert_allclose(state.obs, obs, atol=2e-4)
        np.testing.assert_allclose(state.reward, reward, rtol=1e-4, atol=1e-4)


def test_pendulum_torque_is_minus_the_gradient_of_the_rod_potential():
    env = envs.make("pendulum")
    p = env.params
    theta = jnp.array(0.7)
    state = env.reset(KEY)
    state = state.replace(pipeline_state=state.pipeline_state.replace(theta=theta, theta_dot=jnp.zeros(())))
    nxt = env.step(state, jnp.zeros(1))
    # theta_ddot = (m g l / 2) sin(theta) / (m l^2 / 3) = 3 g sin(theta) / (2 l)
    expected = 3 * p.gravity * np.sin(0.7) / (2 * p.length) * p.dt
    np.testing.assert_allclose(nxt.pipeline_state.theta_dot, expected, rtol=1e-5)


def test_point_mass_under_constant_force_follows_the_discrete_kinematics():
    env = envs.PointReacher(arena=100.0, max_speed=100.0,
                            params=envs.ReacherParams(damping=0.0, mass=2.0, target_radius=0.0))
    state = env.reset(KEY)
    x0 = np.asarray(state.pipeline_state.position)
    force = jnp.array([0.5, -1.0])
    step = jax.jit(env.step)
    k = 30
    for _ in range(k):
        state = step(state, force)
    dt, m = 0.05, 2.0
    # semi-implicit Euler: v_k = k dt F/m, x_k = x_0 + dt^2 F/m k(k+1)/2
    np.testing.assert_allclose(state.pipeline_state.velocity, k * dt * force / m, rtol=1e-5)
    np.testing.assert_allclose(state.pipeline_state.position, x0 + dt ** 2 * force / m * k * (k + 1) / 2,
                               rtol=1e-5, atol=1e-5)


def test_reacher_terminates_with_the_bonus_when_the_target_is_reached():
    env = envs.make("point_reacher")
    state = env.reset(KEY)
    s = state.pipeline_state
    state = state.replace(pipeline_state=s.replace(position=s.target + 0.02, velocity=jnp.zeros(2)))
    nxt = env.step(state, jnp.zeros(2))
    assert nxt.done == 1 and nxt.metrics["success"] == 1
    np.testing.assert_allclose(nxt.reward, 10.0 - nxt.metrics["distance"], rtol=1e-6)
    far = env.step(env.reset(KEY), jnp.zeros(2))
    assert far.done == 0


def test_reacher_walls_keep_observations_in_bounds():
    env = envs.make("point_reacher")
    step = jax.jit(env.step)
    state = env.reset(KEY)
    for _ in range(200):
        state = step(state, jnp.array([1.0, 1.0]))
    spec = env.observation_spec
    assert np.all(state.obs >= spec.low) and np.all(state.obs <= spec.high)
    np.testing.assert_allclose(state.pipeline_state.position, [1.0, 1.0])


def test_tag_observations_are_minimum_image_displacements():
    env = envs.make("tag", num_predators=2, num_prey=2, box_size=2.0)
    state = env.reset(KEY)
    R = np.array([[0.1, 0.1], [1.0, 1.0], [1.9, 0.1], [0.1, 1.95]])
    s = state.pipeline_state.replace(position=jnp.asarray(R, jnp.float32))
    obs = env._obs(s)
    allobs = np.concatenate([obs["predator"], obs["prey"]])
    for i in range(4):
        others = [j for j in range(4) if j != i]
        d = R[others] - R[i]
        d -= 2.0 * np.round(d / 2.0)
        np.testing.assert_allclose(allobs[i, 2:].reshape(3, 2), d, atol=1e-6)


def test_tag_rewards_captures_across_the_periodic_boundary():
    env = envs.make("tag", num_predators=2, num_prey=2, box_size=2.0)
    state = env.reset(KEY)
    # predator 0 sits 0.1 from prey 0 through the boundary; predator 1 is far from everyone
    R = jnp.array([[0.02, 1.0], [1.0, 0.3], [1.92, 1.0], [1.0, 1.6]])
    state = state.replace(pipeline_state=state.pipeline_state.replace(position=R))
    zero = {"predator": jnp.zeros((2, 2)), "prey": jnp.zeros((2, 2))}
    nxt = env.step(state, zero)
    np.testing.assert_array_equal(nxt.reward["predator"], [1.0, 0.0])
    np.testing.assert_array_equal(nxt.reward["prey"], [-1.0, 0.0])
    assert nxt.metrics["captures"] == 1


def test_tag_scripted_predators_catch_prey():
    env = envs.create("tag", episode_length=None, auto_reset=False)
    step = jax.jit(lambda s: env.step(s, env.scripted_action(s)))
    state = env.reset(KEY)
    total = 0.0
    for _ in range(300):
        state = step(state)
        total += float(state.metrics["captures"])
    assert total > 0
    a = env.scripted_action(state)
    for team in ("predator", "prey"):
        np.testing.assert_allclose(np.linalg.norm(a[team], axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("name", ["pendulum", "point_reacher", "tag"])
def test_render_draws_an_rgb_picture(name):
    env = envs.make(name)
    img = env.render(env.reset(KEY))
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
    assert img.min() < 128 < img.max()   # something dark drawn on a light background
