"""training/gae.py: truncation-aware GAE against the recursion written out by hand."""

import jax.numpy as jnp
import numpy as np

from gambol.training.gae import gae


def numpy_gae(rewards, values, next_values, discounts, truncations, lam, gamma):
    """The recursion, one step at a time: a terminal step does not bootstrap, a
    truncated one bootstraps from V(final obs); both end the advantage chain."""
    advantages = np.zeros_like(rewards)
    following = np.zeros_like(rewards[0])
    for t in reversed(range(len(rewards))):
        terminal = (1 - discounts[t]) * (1 - truncations[t])
        delta = rewards[t] + gamma * (1 - terminal) * next_values[t] - values[t]
        following = delta + gamma * lam * discounts[t] * following
        advantages[t] = following
    return advantages, advantages + values


def test_hand_case_with_a_truncation_and_a_termination():
    # step 0 continues, step 1 hits the time limit (final obs worth 7), step 2 terminates
    rewards = jnp.array([[1.0], [2.0], [3.0]])
    values = jnp.array([[0.5], [1.0], [1.5]])
    next_values = jnp.array([[1.0], [7.0], [2.0]])
    discounts = jnp.array([[1.0], [0.0], [0.0]])
    truncations = jnp.array([[0.0], [1.0], [0.0]])
    advantages, targets = gae(rewards, values, next_values, discounts, truncations, 0.8, 0.9)
    # A2 = 3 - 1.5;  A1 = 2 + 0.9 * 7 - 1;  A0 = (1 + 0.9 * 1 - 0.5) + 0.9 * 0.8 * A1
    np.testing.assert_allclose(advantages[:, 0], [6.656, 7.3, 1.5], rtol=1e-6)
    np.testing.assert_allclose(targets[:, 0], [7.156, 8.3, 3.0], rtol=1e-6)


def test_matches_the_numpy_recursion_with_random_episode_ends():
    rng = np.random.default_rng(0)
    T, B = 12, 5
    rewards, values, next_values = (rng.normal(size=(T, B)).astype(np.float32) for _ in range(3))
    done = rng.random((T, B)) < 0.3
    truncations = (done & (rng.random((T, B)) < 0.5)).astype(np.float32)
    discounts = 1.0 - done.astype(np.float32)
    got = gae(jnp.asarray(rewards), jnp.asarray(values), jnp.asarray(next_values),
              jnp.asarray(discounts), jnp.asarray(truncations), 0.95, 0.99)
    want = numpy_gae(rewards, values, next_values, discounts, truncations, 0.95, 0.99)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)


def test_episode_ends_broadcast_over_an_agent_axis():
    rng = np.random.default_rng(1)
    T, B, n = 6, 3, 4
    rewards, values, next_values = (rng.normal(size=(T, B, n)).astype(np.float32) for _ in range(3))
    discounts = (rng.random((T, B)) > 0.3).astype(np.float32)
    truncations = (1 - discounts) * (rng.random((T, B)) < 0.5)
    advantages, _ = gae(rewards, values, next_values, discounts, truncations, 0.9, 0.97)
    assert advantages.shape == (T, B, n)
    for agent in range(n):   # each agent is its own reward stream under the env's episode ends
        want, _ = numpy_gae(rewards[..., agent], values[..., agent], next_values[..., agent],
                            discounts, truncations, 0.9, 0.97)
        np.testing.assert_allclose(advantages[..., agent], want, rtol=1e-5, atol=1e-5)
