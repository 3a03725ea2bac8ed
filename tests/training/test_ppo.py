"""training/ppo.py: PPO learns pendulum, a shared-parameter flock and two predator-prey teams."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gambol import agents, envs
from gambol.training import ppo


def _record(history):
    return lambda steps, metrics: history.append((steps, metrics))


@pytest.fixture(scope="module")
def pendulum_run():
    history = []
    make_policy, params, metrics = ppo.train(
        envs.make("pendulum"), 200_000, num_envs=32, episode_length=200, unroll_length=32,
        num_minibatches=4, learning_rate=1e-3, reward_scaling=0.1, num_evals=3, seed=0,
        progress_fn=_record(history))
    return make_policy, params, metrics, history


def test_pendulum_return_rises_well_above_the_untrained_policy(pendulum_run):
    _, _, metrics, history = pendulum_run
    untrained = history[0][1]["eval/episode_reward"]
    # the untrained policy hangs around the bottom: about -1200 over 200 steps
    assert untrained < -900
    assert metrics["eval/episode_reward"] > untrained + 500
    assert metrics["eval/episode_reward"] > -700


def test_progress_is_reported_from_step_zero_with_finite_losses(pendulum_run):
    _, _, metrics, history = pendulum_run
    steps = [s for s, _ in history]
    assert steps[0] == 0 and steps == sorted(steps) and steps[-1] >= 200_000
    assert len(history) == 3
    for key in ("policy_loss", "value_loss", "entropy", "approx_kl", "clip_fraction", "mean_reward"):
        assert np.isfinite(metrics[f"training/{key}"])
    # the last progress report is the final evaluation; compilation is timed on its own
    assert history[-1][1].items() <= metrics.items()
    assert metrics["training/compile_seconds"] > 0 and metrics["training/sps"] > 0


def test_returned_policy_acts_within_the_action_bounds(pendulum_run):
    make_policy, params, _, _ = pendulum_run
    obs = jax.random.normal(jax.random.PRNGKey(0), (5, 3))
    act = jax.jit(lambda key, deterministic: make_policy(params, deterministic)(obs, key),
                  static_argnums=1)
    action, extras = act(jax.random.PRNGKey(1), False)
    assert action.shape == (5, 1) and bool(jnp.all(jnp.abs(action) < 1))
    assert extras["log_prob"].shape == (5,) and extras["raw_action"].shape == (5, 1)
    np.testing.assert_array_equal(act(jax.random.PRNGKey(1), True)[0], act(jax.random.PRNGKey(2), True)[0])


def test_shared_parameter_flock_improves_its_team_return():
    history = []
    _, params, metrics = ppo.train(
        "flock", 96_000, env_kwargs=dict(num_boids=6), num_envs=8, episode_length=50,
        unroll_length=16, num_minibatches=4, learning_rate=1e-3, policy_hidden=(32,),
        value_hidden=(32,), num_evals=3, num_eval_envs=64, seed=0, progress_fn=_record(history))
    # one network for the whole team: obs [.., 6 boids, 36] -> 2 actions (4 distribution params)
    stats, net = params["boid"]
    assert net["params"]["dense_0"]["kernel"].shape == (36, 32)
    assert net["params"]["dense_1"]["kernel"].shape == (32, 4)
    assert stats.mean.shape == (36,)
    untrained = history[0][1]["eval/episode_reward/boid"]
    trained = metrics["eval/episode_reward/boid"]
    assert np.isfinite(trained) and untrained < 0
    assert trained > untrained + 0.15 * abs(untrained)


def test_two_predator_prey_teams_both_learn():
    config = ppo.PPOConfig(num_envs=4, episode_length=20, unroll_length=8, num_minibatches=2,
                           update_epochs=2, policy_hidden=(16,), value_hidden=(16,))
    batched = envs.create("predator_prey", episode_length=20, batch_size=4, num_boids=4,
                          num_predators=1, box_size=80.0)
    env, eval_env = ppo.make_envs(batched, config)
    assert env is batched and eval_env.batch_size == config.num_eval_envs
    networks = ppo.make_networks(env, config)
    assert networks.teams == ("boid", "predator")
    optimizer = ppo.make_optimizer(config)
    before = jax.jit(lambda key: ppo.init_state(env, networks, optimizer, key))(jax.random.PRNGKey(0))
    iteration = ppo.make_training_iteration(env, networks, config, optimizer, updates_per_iteration=2)
    after, metrics = iteration(before)
    assert int(after.env_steps) == 2 * 4 * 8
    for team in ("boid", "predator"):
        for part in ("policy", "value"):
            moved = jax.tree.map(lambda a, b: float(jnp.max(jnp.abs(a - b))),
                                 before.params[part][team], after.params[part][team])
            assert max(jax.tree.leaves(moved)) > 0, (team, part)
        assert float(after.obs_stats[team].count) == 2 * 4 * 8 * {"boid": 4, "predator": 1}[team]
        assert np.isfinite(float(metrics[f"training/mean_reward/{team}"]))
    assert all(np.isfinite(float(v)) for v in metrics.values())
    # the policy `train` would return takes {team: (stats, network params)}
    policy = networks.make_policy()(ppo.policy_params(networks, after), deterministic=True)
    action, _ = policy(after.env_state.obs, jax.random.PRNGKey(1))
    assert action["boid"].shape == (4, 4, 2) and action["predator"].shape == (4, 1, 2)


def test_unknown_keyword_names_the_valid_options():
    with pytest.raises(TypeError, match=r"unknown keyword\(s\) \['num_env'\].*num_envs"):
        ppo.train("pendulum", 1000, num_env=8)


def test_bad_values_and_mismatched_envs_are_named():
    with pytest.raises(ValueError, match="num_minibatches: must divide num_envs \\* unroll_length = 48"):
        ppo.PPOConfig(num_envs=3, unroll_length=16, num_minibatches=5)
    with pytest.raises(ValueError, match="PPOConfig.discount: expected a value in \\[0, 1\\], got 1.5"):
        ppo.PPOConfig(discount=1.5)
    with pytest.raises(ValueError, match=r"batch_size == num_envs \(8\), got 4"):
        ppo.train(envs.create("pendulum", batch_size=4), 1000, num_envs=8)
    with pytest.raises(ValueError, match="episode_length=1000, but the trainer's episode_length is 200"):
        ppo.train(envs.create("pendulum", batch_size=8, auto_reset=False, episode_length=1000), 1000,
                  num_envs=8)
    with pytest.raises(ValueError, match="repeat=2, but the trainer's action_repeat is 1"):
        ppo.train(envs.create("pendulum", episode_length=200, action_repeat=2), 1000, num_envs=8)
    with pytest.raises(ValueError, match="num_timesteps: expected a positive int, got 0"):
        ppo.train("pendulum", 0)


def test_loss_terms_at_the_acting_policy():
    """With the stored log-probs from the current policy the ratio is 1: the surrogate is
    -mean(advantage), nothing is clipped, and the value loss is half the mean squared error."""
    config = ppo.PPOConfig(normalize_advantages=False, clip_eps=0.2, value_coef=0.5,
                             entropy_coef=0.0, policy_hidden=(8,), value_hidden=(8,))
    networks = ppo.make_networks(envs.make("pendulum"), config)
    obs = jax.random.normal(jax.random.PRNGKey(1), (10, 3))
    advantage = jnp.linspace(-1.0, 2.0, 10)
    target = jnp.linspace(0.5, -0.5, 10)

    @jax.jit
    def terms_and_value():
        k1, k2, k3, k4 = jax.random.split(jax.random.PRNGKey(0), 4)
        params = {"policy": {ppo.SINGLE: networks.policy[ppo.SINGLE].init(k1, obs)},
                  "value": {ppo.SINGLE: networks.value[ppo.SINGLE].init(k2, obs)}}
        stats = agents.init_stats(3)
        _, extras = networks.make_policy()((stats, params["policy"][ppo.SINGLE]))(obs, k3)
        batch = {ppo.SINGLE: ppo.TeamBatch(obs, extras["raw_action"], extras["log_prob"],
                                           advantage, target)}
        loss, terms = ppo.make_loss(networks, config)(params, batch, k4)
        return loss, terms, networks.value[ppo.SINGLE].apply(params["value"][ppo.SINGLE], obs)

    loss, terms, value = terms_and_value()
    np.testing.assert_allclose(terms["policy_loss"], -jnp.mean(advantage), rtol=1e-5)
    np.testing.assert_allclose(terms["value_loss"], 0.5 * jnp.mean((value - target) ** 2), rtol=1e-5)
    assert float(terms["clip_fraction"]) == 0.0 and abs(float(terms["approx_kl"])) < 1e-6
    np.testing.assert_allclose(loss, terms["policy_loss"] + 0.5 * terms["value_loss"], rtol=1e-5)
