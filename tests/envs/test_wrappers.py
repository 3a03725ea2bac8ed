"""Wrappers: truncation vs termination, action repeat, vmap batching, auto-reset
(fresh per-member states, final observations, the cached variant), domain
randomisation, composition in either order, and grad through the whole stack."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gambol import envs
from gambol.envs import wrappers

KEY = jax.random.PRNGKey(7)


def _close(a, b, **kw):
    jax.tree_util.tree_map(lambda x, y: np.testing.assert_allclose(x, y, **kw), a, b)


def test_episode_wrapper_truncates_at_the_limit_and_then_absorbs():
    env = envs.create("pendulum", episode_length=3, auto_reset=False)
    step = jax.jit(env.step)
    state = env.reset(KEY)
    flags = []
    for _ in range(5):
        state = step(state, jnp.ones(1))
        flags.append((int(state.info["steps"]), float(state.done), float(state.info["truncation"])))
    assert flags == [(1, 0, 0), (2, 0, 0), (3, 1, 1), (3, 1, 1), (3, 1, 1)]
    assert state.reward == 0


def test_termination_at_the_time_limit_is_not_a_truncation():
    reacher = envs.make("point_reacher")
    env = wrappers.EpisodeWrapper(reacher, 1)
    state = env.reset(KEY)
    s = state.pipeline_state
    reached = env.step(state.replace(pipeline_state=s.replace(position=s.target)), jnp.zeros(2))
    assert reached.done == 1 and reached.info["truncation"] == 0
    timed_out = env.step(state, jnp.zeros(2))
    assert timed_out.done == 1 and timed_out.info["truncation"] == 1


def test_action_repeat_equals_repeated_steps_with_summed_reward():
    base = envs.make("pendulum")
    env = wrappers.ActionRepeatWrapper(base, 4)
    state = base.reset(KEY)
    a = jnp.array([0.6])
    manual, total = state, 0.0
    for _ in range(4):
        manual = base.step(manual, a)
        total += manual.reward
    out = jax.jit(env.step)(state, a)
    _close(out.obs, manual.obs, rtol=1e-6)
    np.testing.assert_allclose(out.reward, total, rtol=1e-6)


def test_action_repeat_stops_collecting_reward_once_done():
    reacher = envs.make("point_reacher")
    env = wrappers.ActionRepeatWrapper(reacher, 5)
    state = reacher.reset(KEY)
    s = state.pipeline_state
    state = state.replace(pipeline_state=s.replace(position=s.target))
    out = env.step(state, jnp.zeros(2))
    first = reacher.step(state, jnp.zeros(2))
    assert out.done == 1
    np.testing.assert_allclose(out.reward, first.reward, rtol=1e-6)


def test_vmap_wrapper_members_are_the_single_env_with_split_keys():
    base = envs.make("pendulum")
    env = wrappers.VmapWrapper(base, 4)
    batch = env.reset(KEY)
    keys = jax.random.split(KEY, 4)
    for i in (0, 3):
        _close(jax.tree_util.tree_map(lambda x: x[i], batch.obs), base.reset(keys[i]).obs)
    with pytest.raises(ValueError, match=r"action: expected a leading batch axis of 4, got shape \(3, 1\)"):
        env.step(batch, jnp.zeros((3, 1)))
    with pytest.raises(ValueError, match="expected 4 keys, got 2"):
        env.reset(jax.random.split(KEY, 2))
    with pytest.raises(ValueError, match="already batched"):
        wrappers.VmapWrapper(env, 2)


@pytest.fixture(scope="module")
def staggered():
    """A batch of reachers whose members finish at different steps (large targets)."""
    reacher = envs.PointReacher(params=envs.ReacherParams(target_radius=0.6))
    env = envs.create("point_reacher", episode_length=6, batch_size=8)
    env = wrappers.AutoResetWrapper(wrappers.VmapWrapper(wrappers.EpisodeWrapper(reacher, 6), 8))
    return env, jax.jit(env.reset), jax.jit(env.step)


def test_auto_reset_restarts_only_finished_members_from_fresh_states(staggered):
    env, reset, step = staggered
    inner = env.env  # Vmap(Episode(reacher))
    state = reset(KEY)
    saw_partial = False
    starts = []
    for _ in range(14):
        before = state
        state = step(state, jnp.zeros((8, 2)))
        done = np.asarray(state.done) > 0
        stepped = inner.step(before.replace(done=jnp.zeros(8)), jnp.zeros((8, 2)))
        # unfinished members are exactly the plain step; final_obs is always the step's obs
        _close(state.info["final_obs"], stepped.obs, rtol=1e-6)
        np.testing.assert_allclose(np.asarray(state.obs)[~done], np.asarray(stepped.obs)[~done], rtol=1e-6)
        if done.any():
            saw_partial |= not done.all()
            # finished members hold the reset of the next key of their own stream
            _, sub = jax.vmap(jax.random.split)(before.info["rng"]).transpose(1, 0, 2)
            fresh = inner.reset(sub)
            np.testing.assert_allclose(np.asarray(state.obs)[done], np.asarray(fresh.obs)[done], rtol=1e-6)
            assert np.all(np.asarray(state.info["steps"])[done] == 0)
            starts.extend(np.asarray(state.pipeline_state.target)[done].tolist())
            np.testing.assert_allclose(np.asarray(state.reward)[done], np.asarray(stepped.reward)[done], rtol=1e-6)
    assert saw_partial, "test needs members that finish at different steps"
    assert len(starts) >= 2 and len({tuple(np.round(t, 6)) for t in starts}) == len(starts)


def test_cached_auto_reset_returns_to_the_first_state():
    env = envs.create("pendulum", episode_length=3, batch_size=2, cached_reset=True)
    state = env.reset(KEY)
    first = state.obs
    step = jax.jit(env.step)
    for _ in range(3):
        state = step(state, jnp.ones((2, 1)))
    assert np.all(state.done == 1)
    _close(state.obs, first)
    assert np.all(state.info["steps"] == 0)


def test_fresh_auto_reset_does_not_repeat_the_first_state():
    env = envs.create("pendulum", episode_length=3, batch_size=2)
    state = env.reset(KEY)
    first = np.asarray(state.obs)
    step = jax.jit(env.step)
    for _ in range(3):
        state = step(state, jnp.ones((2, 1)))
    assert np.all(state.done == 1) and not np.allclose(state.obs, first)
    assert np.all(state.info["truncation"] == 1)


def test_auto_reset_and_vmap_compose_in_either_order():
    base = envs.make("pendulum")
    outer = wrappers.AutoResetWrapper(wrappers.VmapWrapper(wrappers.EpisodeWrapper(base, 4), 3))
    inner = wrappers.VmapWrapper(wrappers.AutoResetWrapper(wrappers.EpisodeWrapper(base, 4)), 3)
    sa, sb = outer.reset(KEY), inner.reset(KEY)
    actions = jnp.sin(jnp.arange(30.0)).reshape(10, 3, 1)

    def run(env, s):
        return jax.lax.scan(lambda s, a: (env.step(s, a),) * 2, s, actions)[1]

    _close(jax.jit(lambda s: run(outer, s))(sa).obs, jax.jit(lambda s: run(inner, s))(sb).obs, rtol=1e-5)


def test_domain_randomisation_gives_each_member_its_own_params():
    base = envs.make("pendulum")

    def heavier(rng, p):
        return p.replace(mass=p.mass * jax.random.uniform(rng, minval=0.5, maxval=2.0),
                         gravity=p.gravity * jax.random.uniform(rng, minval=0.8, maxval=1.2))

    env = envs.create("pendulum", episode_length=50, batch_size=4, randomize_fn=heavier)
    params = env.params
    assert params.mass.shape == (4,) and len(np.unique(np.asarray(params.mass))) == 4
    state = env.reset(KEY)
    a = jnp.full((4, 1), 0.5)
    out = jax.jit(env.step)(state, a)
    # member i is the episode-wrapped pendulum with params i
    keys = jax.random.split(KEY, 4)
    for i in range(4):
        p = jax.tree_util.tree_map(lambda x: x[i], params)
        single = wrappers.EpisodeWrapper(base.with_params(p), 50)
        sub = jax.random.split(keys[i])[1]
        ref = single.step(single.reset(sub), a[i])
        np.testing.assert_allclose(out.obs[i], ref.obs, rtol=1e-5)
    with pytest.raises(ValueError, match="needs batch_size"):
        envs.create("pendulum", randomize_fn=heavier)
    with pytest.raises(ValueError, match="expected params with structure"):
        envs.create("pendulum", batch_size=2, randomize_fn=lambda rng, p: {"mass": p.mass})


@pytest.mark.usefixtures("x64")
def test_grad_through_the_full_wrapper_stack_matches_finite_differences():
    env = envs.create("pendulum", episode_length=5, action_repeat=2, batch_size=2,
                      randomize_fn=lambda rng, p: p.replace(length=p.length * (1 + 0.1 * jax.random.normal(rng))))
    state = env.reset(KEY)
    state = jax.tree_util.tree_map(lambda x: x.astype(jnp.float64)
                                   if jnp.issubdtype(x.dtype, jnp.floating) else x, state)

    @jax.jit
    def ret(actions):
        body = lambda s, a: (env.step(s, a),) * 2  # noqa: E731
        return jnp.sum(jax.lax.scan(body, state, actions)[1].reward)

    actions = 0.4 * jnp.cos(jnp.arange(16.0)).reshape(8, 2, 1)   # crosses one auto-reset
    g = jax.grad(ret)(actions)
    eps = 1e-6
    for idx in [(0, 0, 0), (3, 1, 0), (6, 0, 0)]:
        e = jnp.zeros_like(actions).at[idx].set(eps)
        fd = (ret(actions + e) - ret(actions - e)) / (2 * eps)
        np.testing.assert_allclose(g[idx], fd, rtol=1e-5, atol=1e-8)
    # a fresh episode does not depend on the actions of the one before the reset
    later = jax.grad(lambda a: jnp.sum(jax.lax.scan(
        lambda s, x: (env.step(s, x),) * 2, state, a)[1].reward[5:]))(actions)
    assert np.all(later[:5] == 0) and np.any(later[5:] != 0)


def test_multi_agent_envs_go_through_the_same_wrappers():
    env = envs.create("tag", episode_length=3, action_repeat=2, batch_size=2)
    base = envs.make("tag")
    state = env.reset(KEY)
    zero = {"predator": jnp.zeros((2, 2, 2)), "prey": jnp.zeros((2, 3, 2))}

    @jax.jit
    def run(state):
        return jax.lax.scan(lambda s, _: (env.step(s, zero),) * 2, state, None, length=6)[1]

    traj = run(state)
    assert traj.reward["prey"].shape == (6, 2, 3) and traj.obs["predator"].shape == (6, 2, 2, 10)
    np.testing.assert_array_equal(traj.done[:, 0], [0, 0, 1, 0, 0, 1])
    assert traj.info["final_obs"]["prey"].shape == (6, 2, 3, 10)
    # the first agent step equals two raw steps of member 0
    s0 = base.reset(jax.vmap(jax.random.split)(jax.random.split(KEY, 2))[0, 1])
    one = {t: a[0] for t, a in zip(zero, zero.values())}
    ref = base.step(base.step(s0, one), one)
    np.testing.assert_allclose(traj.obs["prey"][0, 0], ref.obs["prey"], rtol=1e-5, atol=1e-6)
