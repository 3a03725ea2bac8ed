"""training/apg.py: the window gradient against finite differences, APG training
on pendulum, and gradient steps through a small flock."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import gambol.envs
from gambol.training import apg, setup


def _parts(env_or_name, batch_size, episode_length, hidden, auto_reset=True, **env_kwargs):
    environment = gambol.envs.make(env_or_name, **env_kwargs) if env_kwargs else env_or_name
    env = setup.make_envs(environment, episode_length=episode_length, batch_size=batch_size,
                             eval_batch_size=1, auto_reset=auto_reset)[0]
    policy = setup.policy_network(env, hidden)
    return env, policy.make_policy, policy.init, policy.join


@pytest.mark.usefixtures("x64")
def test_window_gradient_matches_finite_differences():
    env, make_policy, init_fn, join = _parts("pendulum", 3, 5, (8,))
    # tanh(mean) actions and reparameterised samples, one check for both
    losses = [apg.make_window_loss(env, make_policy, join, horizon_length=8, stochastic=s)
              for s in (False, True)]
    stats, params = init_fn(jax.random.PRNGKey(0))
    params = jax.tree.map(lambda x: 10.0 * x.astype(jnp.float64), params)  # actions away from 0
    state = apg.desynchronize(env.reset(jax.random.PRNGKey(1)), jax.random.PRNGKey(2), 5)
    key = jax.random.PRNGKey(3)
    fn = jax.jit(lambda p: sum(loss(p, stats, state, key)[0] for loss in losses))
    # the window crosses auto-resets (episodes of 5 steps, desynchronised)
    assert float(fn(params)) > 0
    check_grads(fn, (params,), order=1, modes=("rev",), atol=1e-3, rtol=1e-3, eps=1e-4)


def test_window_loss_is_minus_the_mean_reward_and_carries_the_state():
    env, make_policy, init_fn, join = _parts("pendulum", 4, 100, (8,))
    stats, params = init_fn(jax.random.PRNGKey(0))
    state = env.reset(jax.random.PRNGKey(1))
    value, (end, obs) = apg.make_window_loss(env, make_policy, join, 6)(params, stats, state, jax.random.PRNGKey(2))
    policy = make_policy(join(stats, params), deterministic=True)

    @jax.jit
    def by_hand(s):   # the same 6 steps, unrolled
        rewards = []
        for _ in range(6):
            s = env.step(s, policy(s.obs, jax.random.PRNGKey(0))[0])
            rewards.append(s.reward)
        return -jnp.mean(jnp.stack(rewards)), s

    expected, s = by_hand(state)
    np.testing.assert_allclose(value, expected, rtol=1e-5)
    np.testing.assert_allclose(end.obs, s.obs, rtol=1e-5)
    assert obs.shape == (6, 4, 3)


def test_apg_improves_the_return_on_pendulum():
    reports = []
    _, params, metrics = apg.train("pendulum", 400_000, episode_length=100, num_envs=64,
                                   horizon_length=32, learning_rate=3e-3, hidden=(32, 32),
                                   num_evals=2, num_eval_envs=64,
                                   progress_fn=lambda n, m: reports.append((n, m)))
    assert [n for n, _ in reports] == [0, 200_704, 401_408]   # 98 windows of 64 x 32 steps
    initial = reports[0][1]["eval/episode_reward"]
    final = metrics["eval/episode_reward"]
    assert final > initial + 200.0, (initial, final)   # about -610 -> -165 over seeds 0-2
    assert np.isfinite(metrics["training/loss"])


def test_apg_steps_through_a_small_flock_reduce_the_window_loss():
    env, make_policy, init_fn, join = _parts("flock", 2, 30, (16,), num_boids=6)
    config = apg.APGConfig(num_envs=2, episode_length=30, horizon_length=6, learning_rate=0.02,
                           hidden=(16,))
    iteration = apg.make_training_iteration(env, make_policy, join, config, windows=1)
    stats, params = init_fn(jax.random.PRNGKey(0))
    start = env.reset(jax.random.PRNGKey(1))
    state = apg.TrainingState(params, apg.make_optimizer(config).init(params), stats, start,
                              jax.random.PRNGKey(2), jnp.zeros((), jnp.int32))
    losses = []
    for _ in range(6):   # the same window (state and key) each time: only the policy changes
        state, metrics = iteration(state.replace(env_state=start, key=jax.random.PRNGKey(2)))
        losses.append(float(metrics["training/loss"]))
    assert int(state.window) == 6
    assert all(np.isfinite(losses)) and losses[-1] < losses[0], losses
    leaves = jax.tree.leaves(state.network_params["boid"])
    assert all(bool(jnp.all(jnp.isfinite(x))) for x in leaves)
    moved = [float(jnp.max(jnp.abs(a - b))) for a, b in zip(leaves, jax.tree.leaves(params["boid"]))]
    assert max(moved) > 0


def test_bad_config_raises_naming_the_field():
    with pytest.raises(TypeError, match=r"unknown keyword\(s\) \['horizon'\].*horizon_length"):
        apg.train("pendulum", 10, horizon=8)
    with pytest.raises(ValueError, match="APGConfig.horizon_length: expected a positive int"):
        apg.APGConfig(horizon_length=0)
    with pytest.raises(TypeError, match="config: expected a APGConfig"):
        apg.train("pendulum", 10, config={"horizon_length": 8})
