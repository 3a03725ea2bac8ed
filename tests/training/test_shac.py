"""training/shac.py: the window objective and TD(lambda) targets against brute force,
skipped non-finite updates, remat, bad input, SHAC on pendulum and on ant."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from gambol.agents import ValueNetwork
from gambol.envs.base import Box, Env, State
from gambol.training import cli, shac

GAMMA, LAMBDA = 0.9, 0.7


def _parts(environment, config):
    """(batched training env, make_policy, init_policy) as `shac.train` builds them."""
    env, _ = shac.TRAINER.envs(environment, config)
    policy = shac.TRAINER.policy(env, config)
    return env, policy.make_policy, policy.init


def _window(seed, horizon=7, members=5):
    """Random rewards and values of a window with done steps, some truncated; next
    values equal the next step's values wherever the episode goes on."""
    rng = np.random.default_rng(seed)
    rewards = rng.normal(size=(horizon, members))
    values = rng.normal(size=(horizon, members))
    discounts = (rng.random((horizon, members)) > 0.3).astype(float)
    truncations = (1 - discounts) * (rng.random((horizon, members)) > 0.5)
    next_values = rng.normal(size=(horizon, members))
    goes_on = discounts[:-1] > 0
    next_values[:-1][goes_on] = values[1:][goes_on]
    return tuple(np.float32(x) for x in (rewards, values, next_values, discounts, truncations))


def _end(discounts, t):
    """The last step of the episode segment that step t is in (a done step or the window's end)."""
    horizon = len(discounts)
    return next((j for j in range(t, horizon) if discounts[j] == 0), horizon - 1)


def _bootstrap_value(next_values, discounts, truncations, e):
    terminated = discounts[e] == 0 and truncations[e] == 0
    return 0.0 if terminated else next_values[e]


def _per_member(seed, expected_fn):
    """The random window of `seed` and `expected_fn(rewards, values, next_values,
    discounts, truncations)` applied to each member's `[H]` columns, stacked on axis -1."""
    window = _window(seed)
    columns = [expected_fn(*(x[:, b] for x in window)) for b in range(window[0].shape[1])]
    return window, np.stack(columns, axis=-1)


def _td_lambda_by_hand(rewards, values, next_values, discounts, truncations):
    expected = np.zeros_like(rewards)
    for t in range(len(rewards)):
        e = _end(discounts, t)
        h = e - t + 1                     # steps from t to where the segment leaves the window

        def g(k):                         # G_t^k: k rewards, then V'(s_{t+k})
            tail = values[t + k] if k < h else _bootstrap_value(next_values, discounts, truncations, e)
            return sum(GAMMA ** i * rewards[t + i] for i in range(k)) + GAMMA ** k * tail

        # V~_t = (1 - lambda) sum_{k < h} lambda^(k-1) G^k + lambda^(h-1) G^h
        expected[t] = ((1 - LAMBDA) * sum(LAMBDA ** (k - 1) * g(k) for k in range(1, h))
                       + LAMBDA ** (h - 1) * g(h))
    return expected


def _objective_by_hand(rewards, values, next_values, discounts, truncations):
    total, t = 0.0, 0
    while t < len(rewards):               # one episode segment at a time, restarting gamma^0
        e = _end(discounts, t)
        total += sum(GAMMA ** (j - t) * rewards[j] for j in range(t, e + 1))
        total += GAMMA ** (e - t + 1) * _bootstrap_value(next_values, discounts, truncations, e)
        t = e + 1
    return np.float32(total)


@pytest.mark.parametrize("seed", range(4))
def test_td_lambda_targets_equal_the_papers_sum_of_k_step_returns(seed):
    window, expected = _per_member(seed, _td_lambda_by_hand)
    got = shac.td_lambda_targets(*window, LAMBDA, GAMMA)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("seed", range(4))
def test_window_objective_sums_each_episodes_discounted_rewards_and_bootstrap(seed):
    (rewards, _, next_values, discounts, truncations), expected = _per_member(seed, _objective_by_hand)
    got = shac.window_objective(rewards, next_values, discounts, truncations, GAMMA)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


# -- non-finite gradients, bad input ---------------------------------------------------------

class Kink(Env):
    """One state, reward sqrt(0 a^2) = 0 with a NaN gradient (inf x 0) in the action."""

    def __init__(self, action_dtype=np.float32):
        self.observation_spec = Box((2,))
        self.action_spec = Box((1,), low=-1.0, high=1.0, dtype=action_dtype)

    def _reset(self, rng) -> State:
        return State(jnp.zeros(()), jnp.ones((2,)), jnp.zeros(()), jnp.zeros(()))

    def _step(self, state: State, action) -> State:
        return state.replace(reward=jnp.sqrt(0.0 * jnp.square(action[0])))


def test_a_nonfinite_gradient_skips_the_update_and_is_counted():
    config = shac.SHACConfig(num_envs=4, episode_length=8, horizon_length=4, critic_iterations=1,
                             critic_minibatches=1, hidden=(8,), value_hidden=(8,), stochastic=True,
                             normalize_observations=False)
    env, make_policy, init_policy = _parts(Kink(), config)
    network = ValueNetwork(config.value_hidden)
    iteration = shac.make_training_iteration(env, make_policy, network, config, windows=3)
    state = shac.init_state(env, init_policy, network, config, jax.random.PRNGKey(0))
    new, metrics = iteration(state)
    assert int(new.window) == 3
    assert float(metrics["training/nonfinite_gradients"]) == 3
    assert int(new.policy_optimizer_state.total_notfinite) == 3
    for before, after in zip(jax.tree.leaves(state.policy_params), jax.tree.leaves(new.policy_params)):
        np.testing.assert_array_equal(before, after)            # never applied
    # the critic's own gradients were finite: it learned
    assert float(metrics["training/nonfinite_value_gradients"]) == 0
    moved = [float(jnp.max(jnp.abs(a - b))) for a, b in
             zip(jax.tree.leaves(state.value_params), jax.tree.leaves(new.value_params))]
    assert max(moved) > 0


def test_bad_input_raises_naming_the_field_or_the_env():
    with pytest.raises(ValueError, match=r"SHACConfig.horizon_length: expected at most "
                                         r"episode_length \(16\), got 32"):
        shac.train("pendulum", 100, episode_length=16, horizon_length=32)
    with pytest.raises(ValueError, match="shac: env Kink has no continuous action space"):
        shac.train(Kink(np.int32), 100, num_envs=4, episode_length=8, horizon_length=4)
    with pytest.raises(ValueError, match="SHACConfig.critic_minibatches: must divide"):
        shac.SHACConfig(num_envs=3, horizon_length=5, critic_minibatches=4)
    with pytest.raises(TypeError, match=r"unknown keyword\(s\) \['horizon'\]"):
        shac.train("pendulum", 100, horizon=8)


# -- gradients ---------------------------------------------------------------------------------

@pytest.mark.usefixtures("x64")
def test_the_actor_gradient_matches_finite_differences_with_and_without_remat():
    config = shac.SHACConfig(num_envs=8, episode_length=10, horizon_length=8,
                             hidden=(16,), value_hidden=(16,))
    env, make_policy, init_policy = _parts("pendulum", config)
    network = ValueNetwork(config.value_hidden)
    state = shac.init_state(env, init_policy, network, config, jax.random.PRNGKey(1))
    params = jax.tree.map(lambda x: 10.0 * x.astype(jnp.float64), state.policy_params)
    value_fn = shac.make_value_fn(network, config.normalize_observations)
    grads = []
    for remat in (False, True):
        loss = shac.make_actor_loss(env, make_policy, value_fn,
                                    dataclasses.replace(config, remat=remat))
        fn = jax.jit(lambda p: loss(p, state.target_value_params, state.obs_stats,
                                    state.env_state, jax.random.PRNGKey(2))[0])
        grads.append(jax.grad(fn)(params))
    # and both are the gradient: the window's rewards and critic bootstraps through resets
    check_grads(fn, (params,), order=1, modes=("rev",), atol=1e-3, rtol=1e-3, eps=1e-4)
    # the window crosses auto-resets (episodes of 10 steps, desynchronised)
    assert float(jnp.max(state.env_state.info["steps"])) > 2
    for a, b in zip(jax.tree.leaves(grads[0]), jax.tree.leaves(grads[1])):
        assert float(jnp.max(jnp.abs(a))) > 0
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


# -- training ----------------------------------------------------------------------------------

def test_the_command_line_trains_and_evaluates_shac(tmp_path):
    folder = str(tmp_path / "shac")
    tiny = ["num_envs=4", "episode_length=16", "horizon_length=8", "critic_minibatches=2",
            "hidden=(8,)", "value_hidden=(8,)", "num_evals=2", "num_eval_envs=2"]
    metrics = cli.main(["train", "--env", "pendulum", "--algo", "shac", "--timesteps", "64",
                        "--out", folder, "--no-render", *[a for t in tiny for a in ("--set", t)]])
    assert np.isfinite(metrics["training/critic_loss"])
    make_policy, params = cli.load_policy(cli.Run.load(folder))
    assert params[1]["params"]["dense_0"]["kernel"].shape == (3, 8)
    reward = cli.main(["eval", "--run", folder, "--episodes", "2"])
    assert -16 * 16.28 <= reward <= 0          # pendulum's reward per step lies in [-16.28, 0]


def test_shac_improves_the_return_on_pendulum():
    reports = []
    _, params, metrics = shac.train("pendulum", 150_000, episode_length=100, num_envs=64,
                                    horizon_length=16, actor_learning_rate=1e-2,
                                    reward_scaling=0.1, hidden=(32, 32), value_hidden=(32, 32),
                                    num_evals=2, num_eval_envs=64,
                                    progress_fn=lambda n, m: reports.append((n, m)))
    assert [n for n, _ in reports] == [0, 75_776, 151_552]   # 148 windows of 64 x 16 steps
    initial = reports[0][1]["eval/episode_reward"]
    final = metrics["eval/episode_reward"]
    assert final > initial + 300.0, (initial, final)   # -600..-675 -> -130..-165 over seeds 0-4
    assert metrics["training/nonfinite_gradients"] == 0
    assert all(np.isfinite(metrics[k]) for k in ("training/actor_loss", "training/critic_loss"))


def test_shac_runs_on_ant_with_finite_metrics():
    config = shac.SHACConfig(num_envs=4, episode_length=16, horizon_length=8, critic_iterations=2,
                             critic_minibatches=2, hidden=(16,), value_hidden=(16,), remat=True)
    env, make_policy, init_policy = _parts("ant", config)
    network = ValueNetwork(config.value_hidden)
    iteration = shac.make_training_iteration(env, make_policy, network, config, windows=2)
    state = jax.jit(lambda key: shac.init_state(env, init_policy, network, config, key))(
        jax.random.PRNGKey(0))
    first = state
    for _ in range(3):              # 48 steps of 16-step episodes: every member auto-resets
        state, metrics = iteration(state)
        for key in ("training/actor_loss", "training/critic_loss", "training/mean_reward"):
            assert np.isfinite(float(metrics[key])), (key, metrics[key])
        assert float(metrics["training/nonfinite_gradients"]) == 0
    assert int(state.window) == 6
    for before, after in zip(jax.tree.leaves(first.policy_params), jax.tree.leaves(state.policy_params)):
        assert bool(jnp.all(jnp.isfinite(after))) and not np.array_equal(before, after)
