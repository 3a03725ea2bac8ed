"""Generalised advantage estimation (Schulman et al. 2016, eq. 16) as a reverse scan.

Truncation-aware: an episode that ends by the time limit is not a terminal state,
so its last step bootstraps from the value of the observation it reached
(`Transition.next_obs`, the pre-reset observation); an episode that terminates
does not bootstrap. Either way the advantage recursion stops at the episode's
end, because the next step of the batch member belongs to a new episode:

    delta_t = r_t + gamma * (1 - terminal_t) * V(s'_t) - V(s_t)
    A_t     = delta_t + gamma * lambda * (1 - done_t) * A_{t+1}

with `done_t = 1 - discount_t` (termination or truncation) and
`terminal_t = done_t * (1 - truncation_t)`. The value targets are `A_t + V(s_t)`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def _like(x, reference):
    """`x: [T, B]` broadcast over the trailing axes of `reference` (an agent axis)."""
    x = jnp.asarray(x, reference.dtype)
    return jnp.broadcast_to(jnp.reshape(x, x.shape + (1,) * (reference.ndim - x.ndim)), reference.shape)


def gae(rewards, values, next_values, discounts, truncations, lambda_: float = 0.95,
        gamma: float = 0.99):
    """(advantages, value_targets), both shaped like `rewards`.

    rewards, values, next_values: `[T, ...]` time-major; `values[t] = V(obs_t)`,
    `next_values[t] = V(next_obs_t)` (the observation step t reached, before any reset).
    discounts, truncations: `[T, B]` (1 - done; 1 where the time limit ended the
    episode), broadcast over any trailing axes of `rewards` (agents of a team).
    """
    discounts = _like(discounts, rewards)
    truncations = _like(truncations, rewards)
    bootstrap = discounts + (1.0 - discounts) * truncations          # 0 only at termination
    deltas = rewards + gamma * bootstrap * next_values - values

    def backward(advantage_next, step):
        delta, discount = step
        advantage = delta + gamma * lambda_ * discount * advantage_next
        return advantage, advantage

    _, advantages = jax.lax.scan(backward, jnp.zeros_like(rewards[0]), (deltas, discounts),
                                 reverse=True)
    return advantages, advantages + values
