"""flax networks: an MLP, and the policy, value and Q heads built from it.

Every network acts on the last axis, so one set of parameters serves a whole
team: obs `[..., n_agents, obs_size]` -> output `[..., n_agents, out]`.
"""

from __future__ import annotations

from typing import Callable, Sequence

import flax.linen as nn
import jax.numpy as jnp

Activation = Callable[[jnp.ndarray], jnp.ndarray]


class MLP(nn.Module):
    """Dense layers `layer_sizes`, `activation` between them (and after the last
    if `activate_final`). `final_scale` scales the last layer's initial weights
    (a small value starts a policy near zero mean)."""
    layer_sizes: Sequence[int]
    activation: Activation = nn.swish
    activate_final: bool = False
    final_scale: float = 1.0

    @nn.compact
    def __call__(self, x):
        n = len(self.layer_sizes)
        for i, size in enumerate(self.layer_sizes):
            last = i == n - 1
            init = nn.initializers.lecun_uniform()
            if last and self.final_scale != 1.0:
                init = nn.initializers.variance_scaling(self.final_scale ** 2, "fan_in", "uniform")
            x = nn.Dense(size, kernel_init=init, name=f"dense_{i}")(x)
            if not last or self.activate_final:
                x = self.activation(x)
        return x


def policy_network(param_size: int, hidden: Sequence[int] = (64, 64),
                   activation: Activation = nn.swish, final_scale: float = 0.01) -> MLP:
    """obs -> distribution parameters `[..., param_size]` (see `agents.distributions`)."""
    return MLP(tuple(hidden) + (param_size,), activation, final_scale=final_scale)


class ValueNetwork(nn.Module):
    """obs `[..., obs_size]` -> state value `[...]`."""
    hidden: Sequence[int] = (64, 64)
    activation: Activation = nn.swish

    @nn.compact
    def __call__(self, obs):
        return MLP(tuple(self.hidden) + (1,), self.activation)(obs)[..., 0]


class QNetwork(nn.Module):
    """(obs `[..., obs_size]`, action `[..., action_size]`) -> `[..., n_critics]`:
    `n_critics` independent Q heads (2 for SAC's twin Q)."""
    hidden: Sequence[int] = (256, 256)
    activation: Activation = nn.relu
    n_critics: int = 2

    @nn.compact
    def __call__(self, obs, action):
        x = jnp.concatenate([obs, action], axis=-1)
        qs = [MLP(tuple(self.hidden) + (1,), self.activation, name=f"q_{i}")(x)[..., 0]
              for i in range(self.n_critics)]
        return jnp.stack(qs, axis=-1)
