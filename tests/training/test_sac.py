"""training/sac: learns pendulum swing-up, truncation-aware critic targets,
config and environment errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gambol import envs
from gambol.training import sac
from gambol.training.acting import Transition

SMALL = dict(num_envs=8, episode_length=200, num_evals=3, num_eval_envs=16, batch_size=128,
             grad_updates_per_step=8, min_replay_size=512, policy_hidden=(64, 64),
             q_hidden=(64, 64), learning_rate=1e-3, alpha_learning_rate=1e-3)


@pytest.fixture(scope="module")
def pendulum_run():
    progress = []
    make_policy, params, metrics = sac.train(
        "pendulum", 8000, seed=0, progress_fn=lambda n, m: progress.append((n, m)), **SMALL)
    return make_policy, params, metrics, progress


def test_sac_learns_pendulum_swing_up(pendulum_run):
    _, _, metrics, progress = pendulum_run
    steps = [n for n, _ in progress]
    returns = [m["eval/episode_reward"] for _, m in progress]
    # the first evaluation is the untrained policy after the 512-transition random prefill
    assert steps[0] == 512 and len(progress) == 3 and steps[-1] >= 8000
    # untrained: about -1200 per 200 steps; a swing-up that holds the pole is above -300
    assert returns[0] < -900
    assert returns[-1] > -500 and returns[-1] > returns[0] + 500, returns
    assert metrics["training/grad_steps"] == (steps[-1] - 512) // 8 * 8
    assert 0 < metrics["training/alpha"] < 1  # the temperature fell from init_alpha=1
    assert all(np.isfinite(v) for v in metrics.values())


def test_returned_policy_is_deterministic_and_bounded(pendulum_run):
    make_policy, params, _, _ = pendulum_run
    obs = jnp.asarray(np.random.default_rng(0).normal(size=(5, 3)), jnp.float32)
    act = jax.jit(lambda key: make_policy(params, deterministic=True)(obs, key)[0])
    a1, a2 = act(jax.random.PRNGKey(0)), act(jax.random.PRNGKey(1))
    assert a1.shape == (5, 1)
    np.testing.assert_array_equal(a1, a2)
    sampled, extras = jax.jit(make_policy(params))(obs, jax.random.PRNGKey(2))
    assert bool(jnp.all(jnp.abs(sampled) < 1)) and extras["log_prob"].shape == (5,)


def test_critic_target_bootstraps_on_truncation_not_on_termination():
    config = sac.SACConfig(**{**SMALL, "reward_scaling": 2.0, "discount": 0.9})
    parts = sac.make_parts(envs.create("pendulum", batch_size=8), config)
    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(0), 3)
    policy_params = parts.policy_net.init(k1, jnp.zeros((1, 3)))
    q_params = parts.q_net.init(k2, jnp.zeros((1, 3)), jnp.zeros((1, 1)))
    next_obs = jax.random.normal(k3, (3, 3))
    # rows: running, truncated by the time limit, terminated
    batch = Transition(obs=jnp.zeros((3, 3)), action=jnp.zeros((3, 1)),
                       reward=jnp.array([1.0, -2.0, 0.5]), discount=jnp.array([1.0, 0.0, 0.0]),
                       truncation=jnp.array([0.0, 1.0, 0.0]), next_obs=next_obs, extras={})
    alpha, key = 0.3, jax.random.PRNGKey(7)
    y = jax.jit(lambda: sac.critic_target(parts, policy_params, q_params, alpha, batch,
                                          next_obs, key))()
    # brute force: the soft value of next_obs with the same sampled next action
    next_action, log_prob = jax.jit(parts.sample_action)(policy_params, next_obs, key)
    q = parts.q_net.apply(q_params, next_obs, next_action)
    soft_value = np.minimum(q[:, 0], q[:, 1]) - alpha * np.asarray(log_prob)
    expected = 2.0 * np.array([1.0, -2.0, 0.5]) + 0.9 * np.array([1.0, 1.0, 0.0]) * soft_value
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)


def test_unknown_keyword_lists_the_valid_ones():
    with pytest.raises(TypeError, match=r"unknown keyword\(s\) \['learning_rates'\].*'learning_rate'"):
        sac.train("pendulum", 1000, learning_rates=1e-3)


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(discount=1.5), ValueError, r"SACConfig.discount: expected a number in \(0, 1\], got 1.5"),
    (dict(num_envs=0), ValueError, "SACConfig.num_envs: expected a positive int, got 0"),
    (dict(q_hidden=(64, -1)), ValueError, r"SACConfig.q_hidden: expected positive layer sizes"),
])
def test_bad_config_values_raise(kwargs, error, message):
    with pytest.raises(error, match=message):
        sac.SACConfig(**kwargs)


def test_environment_errors_name_the_problem():
    with pytest.raises(ValueError, match=r"multi-agent envs .* are not supported"):
        sac.train("tag", 10_000, **SMALL)
    with pytest.raises(ValueError, match=r"batch_size == num_envs \(8\), got 4"):
        sac.train(envs.create("pendulum", episode_length=200, batch_size=4), 10_000, **SMALL)
    with pytest.raises(TypeError, match="expected a gambol Env or a registered name, got int"):
        sac.train(3, 10_000, **SMALL)
    with pytest.raises(ValueError, match=r"num_timesteps: expected more than the 512 prefill"):
        sac.train("pendulum", 512, **SMALL)


def test_an_env_instance_is_batched_for_training_and_evaluation():
    config = sac.SACConfig(**SMALL)
    train_env, eval_env = sac.make_envs(envs.Pendulum(), config)
    assert isinstance(train_env, envs.AutoResetWrapper) and train_env.batch_size == 8
    assert not isinstance(eval_env, envs.AutoResetWrapper) and eval_env.batch_size == 16
    assert isinstance(eval_env.env, envs.EpisodeWrapper) and eval_env.env.episode_length == 200
    # an already batched, auto-resetting env is used as it is; evaluation re-batches its
    # members to num_eval_envs without the auto-reset
    batched = envs.create("pendulum", episode_length=200, batch_size=8)
    train_env, eval_env = sac.make_envs(batched, config)
    assert train_env is batched
    assert eval_env.batch_size == 16 and eval_env.env is batched.env.env
    # a batched env without auto-reset gets one for training and is evaluated as it is
    # when its members carry their own (domain-randomised) params
    randomised = envs.create("pendulum", episode_length=200, batch_size=8, auto_reset=False,
                             randomize_fn=lambda key, params: params)
    train_env, eval_env = sac.make_envs(randomised, config)
    assert isinstance(train_env, envs.AutoResetWrapper) and train_env.env is randomised
    assert eval_env is randomised
