"""The flocking envs: overflow recovery against all pairs, captures and respawn,
observations, batching and the adapters, tuning a parameter by gradient, pictures."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from gambol import envs
from gambol.envs import flocking as fl
from gambol.envs.flock_render import save_animation, save_png

KEY = jax.random.PRNGKey(2)


def test_overflowing_lists_are_regrown_and_the_rollout_equals_all_pairs():
    kw = dict(num_boids=120, num_predators=1, box_size=300.0)
    tight = envs.make("boids", max_neighbors=3, cell_capacity=3, **kw)
    brute = envs.make("boids", neighbor_list=False, **kw)
    state = tight.reset(KEY)
    first = jax.jit(tight.step)(state)
    assert first.metrics["overflow"] == 1                     # the tight list does overflow
    grown, out, metrics = envs.rollout(tight, state, 30, chunk=10)
    assert 3 < grown.unwrapped.template.max_neighbors < 119 and not metrics["overflow"].any()
    ref = brute.reset(KEY)
    ref = jax.jit(lambda s: jax.lax.scan(lambda s, _: (brute.step(s), None), s, None, length=30)[0])(ref)
    np.testing.assert_allclose(out.pipeline_state.boids.position, ref.pipeline_state.boids.position,
                               rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(out.metrics["polarization"], ref.metrics["polarization"], rtol=1e-4)


def test_overflow_recovery_in_a_batched_auto_reset_stack():
    env = envs.create("boids", num_boids=40, box_size=150.0, max_neighbors=4, cell_capacity=4,
                      episode_length=8, batch_size=2)
    grown, out, metrics = envs.rollout(env, env.reset(KEY), 12, chunk=6)
    assert metrics["polarization"].shape == (12, 2) and not metrics["overflow"].any()
    assert grown.batch_size == 2 and out.pipeline_state.nbrs.idx.shape[-1] > 4    # regrown: it overflowed


def test_caught_boids_respawn_and_rewards_count_the_capture():
    env = envs.make("predator_prey", num_boids=10, num_predators=2, box_size=300.0, capture_radius=15.0)
    state = env.reset(KEY)
    s = state.pipeline_state
    R = s.boids.position.at[3].set(s.predators.position[1] + jnp.array([5.0, 0.0]))
    state = state.replace(pipeline_state=s.replace(boids=s.boids.replace(position=R)))
    stay = {"boid": jnp.zeros((10, 2)), "predator": jnp.zeros((2, 2))}
    nxt = jax.jit(env.step)(state, stay)
    assert nxt.metrics["captures"] == 1
    moved = np.linalg.norm(np.asarray(nxt.pipeline_state.boids.position - R), axis=1)
    assert moved[3] > 20 and np.all(moved[np.arange(10) != 3] < 5)     # only the caught boid jumps
    assert nxt.reward["predator"][1] > 5 > nxt.reward["predator"][0]
    assert nxt.reward["boid"][3] < -5


def test_observations_are_egocentric_and_bounded():
    env = envs.make("predator_prey", num_boids=30, num_predators=2, num_obstacles=2, box_size=200.0)
    state = jax.jit(env.reset)(KEY)
    obs = state.obs
    assert obs["boid"].shape == (30, env.observation_size["boid"]) == (30, 41)
    assert obs["predator"].shape == (2, 39)
    assert np.all(np.abs(obs["boid"]) <= 1) and np.all(np.abs(obs["predator"]) <= 1)
    # the first neighbour feature of boid 0 is its nearest boid, rotated into boid 0's frame
    s = state.pipeline_state
    R, th = np.asarray(s.boids.position), np.asarray(s.boids.theta)
    d = R - R[0]
    d -= 200.0 * np.round(d / 200.0)
    r = np.linalg.norm(d, axis=1)
    r[0] = np.inf
    j = int(np.argmin(r))
    if r[j] < env.cutoff:
        ego = np.array([d[j] @ [np.cos(th[0]), np.sin(th[0])], d[j] @ [-np.sin(th[0]), np.cos(th[0])]])
        np.testing.assert_allclose(obs["boid"][0, :2], ego / (env.cutoff + env.dr_threshold), atol=1e-5)
        np.testing.assert_allclose(obs["boid"][0, 2:5], [np.cos(th[j] - th[0]), np.sin(th[j] - th[0]), 1], atol=1e-5)


def test_bad_configuration_is_named():
    with pytest.raises(TypeError, match=r"unknown flock parameter\(s\) \['align_strenght'\]"):
        envs.create("flock", align_strenght=3.0)
    with pytest.raises(ValueError, match="learn: 'predator' needs num_predators"):
        envs.create("predator_prey", num_predators=0)
    with pytest.raises(ValueError, match="num_boids: expected an int >= 2"):
        envs.create("boids", num_boids=1)


def test_batched_flock_through_the_adapters():
    pettingzoo_test = pytest.importorskip("pettingzoo.test")
    pz = envs.to_pettingzoo("predator_prey", num_boids=6, num_predators=1, box_size=150.0, episode_length=5)
    pettingzoo_test.parallel_api_test(pz, num_cycles=8)
    vec = envs.to_gymnasium_vector("flock", 2, num_boids=12, num_predators=1, box_size=150.0, episode_length=4)
    obs, _ = vec.reset(seed=0)
    assert obs.shape == (24, 41)
    obs, reward, terminated, truncated, info = vec.step(np.zeros((24, 2), np.float32))
    assert reward.shape == (24,) and "polarization" in info


def test_learned_boids_following_the_scripted_turns_align():
    env = envs.make("flock", num_boids=40, box_size=150.0)
    state = env.reset(KEY)
    step = jax.jit(lambda s: env.step(s, env.scripted_action(s)))
    start = float(state.metrics["polarization"])
    for _ in range(300):
        state = step(state)
    assert float(state.metrics["polarization"]) > start + 0.2


def test_gradient_descent_tunes_alignment_toward_a_target_polarization():
    env = envs.make("boids", num_boids=12, box_size=100.0, neighbor_list=False)
    state = env.reset(KEY)
    target = 0.6

    @jax.jit
    def loss_and_grad(log_align):
        def loss(log_align):
            e = env.with_params(env.params.replace(align_strength=jnp.exp(log_align)))
            out = jax.lax.scan(lambda s, _: (e.step(s), None), state, None, length=40)[0]
            return (out.metrics["polarization"] - target) ** 2
        return jax.value_and_grad(loss)(log_align)

    opt = optax.adam(0.3)
    x = jnp.log(1.0)
    opt_state = opt.init(x)
    losses = []
    for _ in range(8):
        value, g = loss_and_grad(x)
        losses.append(float(value))
        updates, opt_state = opt.update(g, opt_state)
        x = optax.apply_updates(x, updates)
    assert losses[-1] < 0.5 * losses[0]


def test_rollout_renders_to_png_and_gif(tmp_path):
    env = envs.make("boids", num_boids=30, num_predators=1, num_obstacles=2, box_size=200.0)
    state = env.reset(KEY)
    traj = jax.lax.scan(lambda s, _: (env.step(s),) * 2, state, None, length=4)[1]
    png = save_png(env, state.pipeline_state, tmp_path / "flock.png")
    gif = save_animation(env, traj.pipeline_state, tmp_path / "flock.gif")
    import imageio.v3 as iio
    frames = iio.imread(gif, index=None)
    assert frames.shape[0] == 4 and frames.shape[-1] in (3, 4)
    still = iio.imread(png)
    # blue boids, a red predator and grey obstacles are all drawn
    rgb = still[..., :3].astype(int)
    assert np.any((rgb[..., 2] > 150) & (rgb[..., 0] < 100))
    assert np.any((rgb[..., 0] > 150) & (rgb[..., 2] < 100))
    assert not np.array_equal(frames[0], frames[-1])


@pytest.mark.parametrize("neighbor_list", [False, True])
def test_alignment_reward_pays_cos_of_headings_of_neighbours_in_range(neighbor_list):
    kw = dict(num_boids=24, box_size=150.0, neighbor_list=neighbor_list, max_neighbors=23)
    plain, paid = envs.make("flock", **kw), envs.make("flock", alignment_reward=2.0, **kw)
    state = plain.reset(KEY)
    action = {"boid": jax.random.uniform(KEY, (24, 2), minval=-1.0, maxval=1.0)}
    a, b = jax.jit(plain.step)(state, action), jax.jit(paid.step)(state, action)
    s = b.pipeline_state
    R, th = np.asarray(s.boids.position, np.float64), np.asarray(s.boids.theta, np.float64)
    d = R[None, :] - R[:, None]
    d -= 150.0 * np.round(d / 150.0)
    near = (np.linalg.norm(d, axis=-1) < paid.params.align_range) & ~np.eye(24, dtype=bool)
    want = (near * np.cos(th[None, :] - th[:, None])).sum(1) / paid.k
    assert near.any()                               # the check is not vacuous
    np.testing.assert_allclose(b.reward["boid"] - a.reward["boid"], 2.0 * want, rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="alignment_reward: expected a number >= 0"):
        envs.make("flock", alignment_reward=-1.0)
