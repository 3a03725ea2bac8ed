"""Policies: `make_policy(params, deterministic=False) -> policy(obs, key)`.

`params = (stats, network_params)`: observation statistics (see
`agents.normalization`) and the policy network's flax parameters. A policy
returns `(action, extras)`; a stochastic one puts `log_prob` and `raw_action`
(the pre-squash sample) into `extras` for on-policy trainers.

Multi-agent envs key obs and actions by team; `team_policy` combines one
`make_policy` per team into one over the dict (each team's network shared
across its agent axis).
"""

from __future__ import annotations

from typing import Callable, Mapping

import flax.linen as nn
import jax

from gambol.agents import distributions
from gambol.agents.normalization import normalize

Policy = Callable  # (obs, key) -> (action, extras)


def make_policy_factory(network: nn.Module, kind: str = "tanh_normal",
                        normalize_obs: bool = True) -> Callable[..., Policy]:
    """`make_policy(params, deterministic=False)` for `network` (obs ->
    distribution parameters) and the distribution `kind`."""
    distributions.check_kind(kind)

    def make_policy(params, deterministic: bool = False) -> Policy:
        stats, net_params = params

        def policy(obs, key):
            x = normalize(stats, obs) if normalize_obs else obs
            dist_params = network.apply(net_params, x)
            if deterministic:
                return distributions.mode(kind, dist_params), {}
            action, raw, logp = distributions.sample_pre_tanh(kind, dist_params, key)
            return action, {"log_prob": logp, "raw_action": raw}

        return policy

    return make_policy


def team_policy(make_policies: Mapping[str, Callable[..., Policy]]) -> Callable[..., Policy]:
    """One `make_policy` over a dict of teams: params, obs, actions and extras
    are dicts keyed like `make_policies`."""
    teams = tuple(make_policies)

    def make_policy(params, deterministic: bool = False) -> Policy:
        policies = {t: make_policies[t](params[t], deterministic) for t in teams}

        def policy(obs, key):
            keys = dict(zip(teams, jax.random.split(key, len(teams))))
            out = {t: policies[t](obs[t], keys[t]) for t in teams}
            return {t: out[t][0] for t in teams}, {t: out[t][1] for t in teams}

        return policy

    return make_policy
