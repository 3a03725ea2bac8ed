"""The env contract: specs and sizes, action checks, clipping, non-finite actions,
absorbing finished episodes, and jit/vmap/grad/scan through a bare env."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gambol import envs

KEY = jax.random.PRNGKey(0)


# One representative of the rigid family (they share envs/rigid_env.py; each is
# checked against its specs in test_rigid_envs.py) and of the MJCF family
# (envs/mjcf_envs.py, tests/envs/test_mjcf_envs.py), every other env in full.
RIGID_FAMILY = {"halfcheetah", "humanoid", "grasp", "fetch", "mjcf_ant", "mjcf_halfcheetah", "mjcf_walker2d",
                "mjcf_humanoid"}


@pytest.fixture(scope="module", params=[n for n in envs.registered() if n not in RIGID_FAMILY])
def bare(request):
    env = envs.make(request.param)
    return env, jax.jit(env.reset), jax.jit(env.step)


def _random_action(env, key):
    def one(box, lead):
        return jax.random.uniform(key, lead + box.shape, minval=box.low, maxval=box.high)
    if env.is_multi_agent:
        return {t: one(env.action_spec[t], (n,)) for t, n in env.agents.items()}
    return one(env.action_spec, ())


def test_reset_and_step_match_the_specs(bare):
    env, reset, step = bare
    state = reset(KEY)
    for _ in range(3):
        state = step(state, _random_action(env, KEY))
    obs, spec, size = state.obs, env.observation_spec, env.observation_size
    if env.is_multi_agent:
        assert set(obs) == set(env.agents) == set(state.reward)
        for team, n in env.agents.items():
            assert obs[team].shape == (n, size[team]) and obs[team].dtype == jnp.float32
            assert state.reward[team].shape == (n,)
            assert np.all(obs[team] >= spec[team].low) and np.all(obs[team] <= spec[team].high)
    else:
        assert obs.shape == (size,) and obs.dtype == jnp.float32 and state.reward.shape == ()
        assert np.all(obs >= spec.low) and np.all(obs <= spec.high)
    assert state.done.shape == () and state.info["invalid_action"] == 0
    assert all(np.shape(v) == () for v in state.metrics.values())


def test_reset_rejects_a_batch_of_keys(bare):
    env, _, _ = bare
    with pytest.raises(ValueError, match=r"expected one PRNG key.*batch_size"):
        env.reset(jax.random.split(KEY, 4))


def test_action_errors_name_what_was_expected():
    env = envs.make("pendulum")
    state = env.reset(KEY)
    with pytest.raises(ValueError, match=r"action: expected shape \(1,\), got \(2,\)"):
        env.step(state, jnp.zeros(2))
    with pytest.raises(TypeError, match="floating dtype, got int32"):
        env.step(state, jnp.zeros(1, jnp.int32))
    with pytest.raises(TypeError, match="single-agent"):
        env.step(state, {"a": jnp.zeros(1)})
    tag = envs.make("tag", num_predators=1, num_prey=2)
    s = tag.reset(KEY)
    with pytest.raises(KeyError, match=r"expected teams \['predator', 'prey'\], got \['predator'\]"):
        tag.step(s, {"predator": jnp.zeros((1, 2))})
    with pytest.raises(ValueError, match=r"action\['prey'\]: expected shape \(2, 2\), got \(3, 2\)"):
        tag.step(s, {"predator": jnp.zeros((1, 2)), "prey": jnp.zeros((3, 2))})
    with pytest.raises(ValueError, match="num_prey: expected a positive int"):
        envs.make("tag", num_prey=0)


def test_out_of_bounds_actions_are_clipped_and_nonfinite_ones_zeroed_and_flagged():
    env = envs.make("pendulum")
    step = jax.jit(env.step)
    state = env.reset(KEY)
    np.testing.assert_array_equal(step(state, jnp.array([7.0])).obs, step(state, jnp.array([1.0])).obs)
    np.testing.assert_array_equal(step(state, jnp.array([-3.0])).obs, step(state, jnp.array([-1.0])).obs)
    bad = step(state, jnp.array([jnp.nan]))
    zero = step(state, jnp.array([0.0]))
    np.testing.assert_array_equal(bad.obs, zero.obs)
    assert bad.info["invalid_action"] == 1 and zero.info["invalid_action"] == 0
    assert np.isfinite(bad.reward)


def test_a_finished_episode_is_absorbing():
    env = envs.make("point_reacher")
    state = env.reset(KEY)
    done = jax.jit(env.step)(state.replace(done=jnp.ones(())), jnp.ones(2))
    np.testing.assert_array_equal(done.obs, state.obs)
    np.testing.assert_array_equal(done.pipeline_state.position, state.pipeline_state.position)
    assert done.reward == 0 and done.done == 1


def test_vmap_of_a_bare_env_matches_single_members():
    env = envs.make("pendulum")
    keys = jax.random.split(KEY, 3)
    actions = jnp.linspace(-1, 1, 3)[:, None]
    batch = jax.vmap(env.step)(jax.vmap(env.reset)(keys), actions)
    for i in range(3):
        single = env.step(env.reset(keys[i]), actions[i])
        np.testing.assert_allclose(batch.obs[i], single.obs, rtol=1e-6)


@pytest.mark.usefixtures("x64")
def test_grad_of_a_scanned_return_matches_finite_differences():
    env = envs.make("pendulum")
    state = env.reset(KEY)
    state = jax.tree_util.tree_map(lambda x: x.astype(jnp.float64)
                                   if jnp.issubdtype(x.dtype, jnp.floating) else x, state)

    def ret(actions):
        def body(s, a):
            s = env.step(s, a)
            return s, s.reward
        return jnp.sum(jax.lax.scan(body, state, actions)[1])

    actions = 0.3 * jnp.sin(jnp.arange(20.0))[:, None]
    g = jax.grad(ret)(actions)
    eps = 1e-6
    for t in (0, 7, 19):
        e = jnp.zeros_like(actions).at[t, 0].set(eps)
        fd = (ret(actions + e) - ret(actions - e)) / (2 * eps)
        np.testing.assert_allclose(g[t, 0], fd, rtol=1e-5, atol=1e-8)
    assert np.any(g != 0)


@pytest.mark.parametrize("name", ["tag", "pendulum"])
@pytest.mark.usefixtures("x64")
def test_state_dtypes_stay_fixed_under_float64_so_scans_and_resets_compose(name):
    env = envs.create(name, episode_length=2, batch_size=2)
    state = env.reset(KEY)
    action = jax.tree_util.tree_map(lambda x: jnp.zeros((2,) + x.shape[1:]),
                                    env.scripted_action(state))
    out = jax.jit(lambda s: jax.lax.scan(lambda s, _: (env.step(s, action), None), s, None,
                                         length=5)[0])(state)
    same = jax.tree_util.tree_map(lambda a, b: a.dtype == b.dtype, out, state)
    assert all(jax.tree_util.tree_leaves(same))
