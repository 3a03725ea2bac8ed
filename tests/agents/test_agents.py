"""agents/: distributions, normalisation, networks, policies."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, stats

from gambol import agents
from gambol.agents import distributions


def test_tanh_normal_log_prob_is_the_change_of_variables():
    loc, scale = jnp.array([0.3, -1.2]), jnp.array([0.7, 0.4])
    dist = distributions.tanh_normal(loc, scale)
    a = jnp.array([0.5, -0.9])
    u = np.arctanh(np.asarray(a))
    expected = np.sum(stats.norm.logpdf(u, loc, scale) - np.log(1 - np.asarray(a) ** 2))
    np.testing.assert_allclose(dist.log_prob(a), expected, rtol=1e-5)
    np.testing.assert_allclose(distributions.log_prob_pre_tanh(dist, jnp.asarray(u)), expected,
                               rtol=1e-5)


def test_tanh_normal_density_integrates_to_one():
    dist = distributions.tanh_normal(jnp.array([0.8]), jnp.array([0.6]))
    density = lambda a: float(jnp.exp(dist.log_prob(jnp.array([a]))))
    total, _ = integrate.quad(density, -1 + 1e-9, 1 - 1e-9, limit=200)
    assert total == pytest.approx(1.0, abs=1e-4)


def test_sampled_log_prob_matches_log_prob_of_the_action():
    params = jnp.array([[0.1, -0.5, 0.2, 1.0], [2.0, 0.0, -1.0, -2.0]])
    action, raw, logp = distributions.sample_pre_tanh("tanh_normal", params, jax.random.PRNGKey(0))
    assert action.shape == (2, 2) and logp.shape == (2,)
    assert bool(jnp.all(jnp.abs(action) < 1))
    dist = distributions.from_params("tanh_normal", params)
    np.testing.assert_allclose(logp, dist.log_prob(action), rtol=1e-3, atol=1e-3)


def test_categorical_and_unknown_kind():
    logits = jnp.log(jnp.array([0.2, 0.5, 0.3]))
    assert int(distributions.mode("categorical", logits)) == 1
    a, _, logp = distributions.sample_pre_tanh("categorical", logits, jax.random.PRNGKey(1))
    np.testing.assert_allclose(logp, logits[a], rtol=1e-6)
    with pytest.raises(ValueError, match="unknown kind 'gaussian'"):
        distributions.param_size("gaussian", 2)


def test_running_stats_merge_matches_numpy_and_freezes():
    rng = np.random.default_rng(0)
    chunks = [rng.normal(3.0, 2.0, size=(n, 4)) for n in (5, 17, 1, 40)]
    s = agents.init_stats(4, jnp.float64 if jax.config.jax_enable_x64 else jnp.float32)
    for c in chunks:
        s = agents.update_stats(s, jnp.asarray(c))
    allx = np.concatenate(chunks)
    np.testing.assert_allclose(s.mean, allx.mean(0), rtol=1e-5)
    np.testing.assert_allclose(s.var, allx.var(0), rtol=1e-4)
    assert float(s.count) == len(allx)
    frozen = agents.update_stats(s, jnp.ones((3, 4)) * 100, frozen=True)
    np.testing.assert_array_equal(frozen.mean, s.mean)
    z = agents.normalize(s, jnp.asarray(allx))
    np.testing.assert_allclose(np.mean(z, 0), 0, atol=1e-3)
    # before any update normalize is the identity (up to clipping)
    np.testing.assert_allclose(agents.normalize(agents.init_stats(2), jnp.array([0.5, -2.0])),
                               [0.5, -2.0])


def test_shared_policy_over_agent_axis_and_team_policy():
    net = agents.policy_network(distributions.param_size("tanh_normal", 2), hidden=(8,))
    p = net.init(jax.random.PRNGKey(0), jnp.zeros((3,)))
    make = agents.make_policy_factory(net)
    params = (agents.init_stats(3), p)
    obs = jax.random.normal(jax.random.PRNGKey(1), (5, 3))   # 5 agents, one network
    action, extras = make(params)(obs, jax.random.PRNGKey(2))
    assert action.shape == (5, 2) and extras["log_prob"].shape == (5,)
    det, _ = make(params, deterministic=True)(obs, jax.random.PRNGKey(3))
    # each agent's deterministic action depends on its own obs only
    det0, _ = make(params, deterministic=True)(obs[:1], jax.random.PRNGKey(4))
    np.testing.assert_allclose(det[:1], det0, rtol=1e-6)
    both = agents.team_policy({"boid": make, "predator": make})
    acts, ex = both({"boid": params, "predator": params}, True)(
        {"boid": obs, "predator": obs[:2]}, jax.random.PRNGKey(5))
    assert acts["boid"].shape == (5, 2) and acts["predator"].shape == (2, 2)


def test_q_and_value_network_shapes():
    q = agents.QNetwork(hidden=(8,), n_critics=2)
    qp = q.init(jax.random.PRNGKey(0), jnp.zeros((4, 3)), jnp.zeros((4, 2)))
    assert q.apply(qp, jnp.zeros((4, 3)), jnp.zeros((4, 2))).shape == (4, 2)
    v = agents.ValueNetwork(hidden=(8,))
    vp = v.init(jax.random.PRNGKey(0), jnp.zeros((3,)))
    assert v.apply(vp, jnp.zeros((6, 3))).shape == (6,)
