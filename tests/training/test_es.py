"""training/es.py: the search-gradient estimator, and ES training on a small env."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gambol.envs
from gambol.training import es


def test_centered_ranks_span_minus_half_to_half_in_order():
    x = jnp.array([3.0, -1.0, 10.0, 0.5, 2.0])
    r = es.centered_ranks(x)
    np.testing.assert_allclose(r, [0.25, -0.5, 0.5, -0.25, 0.0])
    assert float(jnp.sum(r)) == pytest.approx(0.0)


@pytest.mark.parametrize("rank_shaping", [True, False])
def test_search_gradient_points_along_the_true_gradient_of_a_quadratic(rank_shaping):
    # F(theta) = -(theta - c)^T A (theta - c): grad F = -2 A (theta - c)
    d = 12
    rng = np.random.default_rng(0)
    a = jnp.asarray(np.diag(rng.uniform(0.5, 2.0, d)))
    c = jnp.asarray(rng.normal(size=d))
    theta = jnp.zeros(d)
    fitness = jax.vmap(lambda t: -(t - c) @ a @ (t - c))
    grad, f = es.estimate_gradient(fitness, theta, jax.random.PRNGKey(1), 1000, 0.05, rank_shaping)
    true = -2 * a @ (theta - c)
    cosine = float(grad @ true / (jnp.linalg.norm(grad) * jnp.linalg.norm(true)))
    assert f.shape == (1000,)
    assert cosine > 0.9
    # too small a population still estimates the direction, only worse
    grad_small, _ = es.estimate_gradient(fitness, theta, jax.random.PRNGKey(1), 8, 0.05, rank_shaping)
    assert float(grad_small @ true) > 0


def test_unshaped_search_gradient_of_a_linear_function_is_exact_in_expectation():
    # with fitness w.theta and no shaping the estimate is w scaled by 1 / std(fitness),
    # and mirrored noise cancels the baseline: check the direction and the pairing
    w = jnp.array([1.0, -2.0, 0.5])
    grad, f = es.estimate_gradient(lambda ts: ts @ w, jnp.ones(3), jax.random.PRNGKey(0), 4000,
                                   0.1, rank_shaping=False)
    np.testing.assert_allclose(f[:2000] + f[2000:], 2 * jnp.sum(w), rtol=1e-5)
    cosine = float(grad @ w / (jnp.linalg.norm(grad) * jnp.linalg.norm(w)))
    assert cosine > 0.99


def test_es_improves_the_return_on_point_reacher():
    reports = []
    make_policy, params, metrics = es.train(
        gambol.envs.make("point_reacher"), 300_000, episode_length=50, population_size=64,
        episodes_per_member=4, learning_rate=0.05, noise_std=0.1, hidden=(16, 16),
        normalize_observations=True,
        num_evals=2, num_eval_envs=64, progress_fn=lambda n, m: reports.append((n, m)))
    steps = [n for n, _ in reports]
    assert steps == [0, 153_600, 307_200]          # 64 members x 4 episodes x 50 steps x 12 gens
    initial = reports[0][1]["eval/episode_reward"]
    final = metrics["eval/episode_reward"]
    assert final > initial + 10.0, (initial, final)   # about -50 -> -30 over seeds 0-2
    # the observation statistics merged every observation the population acted on
    stats, _ = params
    assert float(stats.count) == 307_200
    action, _ = make_policy(params, deterministic=True)(jnp.zeros((5, 6)), jax.random.PRNGKey(0))
    assert action.shape == (5, 2) and bool(jnp.all(jnp.abs(action) <= 1))


def test_bad_config_raises_naming_the_field():
    with pytest.raises(TypeError, match=r"unknown keyword\(s\) \['popsize'\].*population_size"):
        es.train("pendulum", 10, popsize=8)
    with pytest.raises(ValueError, match="population_size: expected an even number"):
        es.ESConfig(population_size=7)
    with pytest.raises(ValueError, match="noise_std: expected > 0"):
        es.train("pendulum", 10, config=es.ESConfig(), noise_std=0.0)
    with pytest.raises(ValueError, match="expected an unbatched env"):
        es.train(gambol.envs.create("pendulum", batch_size=4), 10)
    with pytest.raises(ValueError, match="episode_length=20, but the trainer's episode_length is 50"):
        es.train(gambol.envs.EpisodeWrapper(gambol.envs.make("pendulum"), 20), 10, episode_length=50)
